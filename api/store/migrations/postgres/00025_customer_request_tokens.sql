-- Erasing a customer's id token (api/customerinfo, clearCsmsData) finds
-- every request that names the token, on any station, the way tokens are
-- matched (case-insensitively), to clear the export and the token kept
-- with them. Keep in step with ../sqlite.

-- +goose Up
CREATE INDEX customer_information_requests_token_idx ON customer_information_requests (lower(id_token));

-- +goose Down
DROP INDEX customer_information_requests_token_idx;
