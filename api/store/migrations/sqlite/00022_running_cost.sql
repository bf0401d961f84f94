-- The running cost of an active transaction as last sent to its station
-- (api/runningcost), and when the next may be sent: the claim that keeps
-- core instances from sending the same update twice. Keep in step with
-- ../postgres.

-- +goose Up
ALTER TABLE transactions ADD COLUMN running_cost_sent REAL NULL;
ALTER TABLE transactions ADD COLUMN running_cost_due DATETIME NULL;
-- The sweep pages through the active transactions by id.
CREATE INDEX transactions_active_id_idx ON transactions (id) WHERE status = 'Active';

-- +goose Down
DROP INDEX transactions_active_id_idx;
ALTER TABLE transactions DROP COLUMN running_cost_due;
ALTER TABLE transactions DROP COLUMN running_cost_sent;
