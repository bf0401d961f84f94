-- The running cost of an active transaction as last sent to its station
-- (api/runningcost), and when the next may be sent: the claim that keeps
-- core instances from sending the same update twice. Keep in step with
-- ../sqlite.

-- +goose Up
ALTER TABLE transactions ADD COLUMN running_cost_sent DOUBLE PRECISION NULL;
ALTER TABLE transactions ADD COLUMN running_cost_due TIMESTAMPTZ NULL;
-- The sweep pages through the active transactions by id.
CREATE INDEX transactions_active_id_idx ON transactions (id) WHERE status = 'Active';

-- +goose Down
DROP INDEX transactions_active_id_idx;
ALTER TABLE transactions DROP COLUMN running_cost_due;
ALTER TABLE transactions DROP COLUMN running_cost_sent;
