-- 2.0.1 CustomerInformation requests: what was asked, the station's
-- answer, and what the CSMS did with its own data about the customer; the
-- station's report is the NotifyCustomerInformation parts kept under the
-- request id (report_parts). Keep in step with ../postgres.

-- +goose Up
CREATE TABLE customer_information_requests (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id             TEXT NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    -- The OCPP requestId.
    request_id             INTEGER NOT NULL,
    report                 BOOLEAN NOT NULL,
    clear                  BOOLEAN NOT NULL,
    customer_identifier    TEXT NOT NULL DEFAULT '',
    -- The customer's id token; once the CSMS's data is erased, the
    -- pseudonym that replaced it.
    id_token               TEXT NOT NULL DEFAULT '',
    id_token_type          TEXT NOT NULL DEFAULT '',
    -- The customer's certificate hash data (JSON), if named.
    certificate            TEXT NOT NULL DEFAULT '',
    export_csms_data       BOOLEAN NOT NULL DEFAULT FALSE,
    clear_csms_data        BOOLEAN NOT NULL DEFAULT FALSE,
    -- Pending (sent, no answer yet), the station's status, or Failed (no answer).
    status                 TEXT NOT NULL,
    error                  TEXT NOT NULL DEFAULT '',
    -- The CSMS's data exported (JSON); kept only when not erased.
    csms_data              TEXT NOT NULL DEFAULT '',
    tokens_deleted         INTEGER NOT NULL DEFAULT 0,
    sessions_pseudonymised INTEGER NOT NULL DEFAULT 0,
    requested_by           TEXT NOT NULL DEFAULT '',
    created_at             DATETIME NOT NULL,
    updated_at             DATETIME NOT NULL
);
CREATE UNIQUE INDEX customer_information_requests_request ON customer_information_requests (station_id, request_id);
-- Sessions of one token, started or stopped with it.
CREATE INDEX transactions_stop_token_idx ON transactions (lower(stop_id_token));
CREATE INDEX transactions_token_idx ON transactions (lower(id_token));

-- +goose Down
DROP INDEX transactions_token_idx;
DROP INDEX transactions_stop_token_idx;
DROP TABLE customer_information_requests;
