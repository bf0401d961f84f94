-- Remote start linkage and the 2.0.1 device model. Keep in step with
-- ../sqlite (same versions, same meaning).

-- +goose Up
-- The remoteStartId of the RequestStartTransaction that started a 2.0.1
-- transaction (TransactionEvent transactionInfo.remoteStartId), so that a
-- remote start can tell the operator which transaction it produced.
ALTER TABLE transactions ADD COLUMN remote_start_id INTEGER NULL;
CREATE INDEX transactions_remote_start_idx ON transactions (station_id, remote_start_id)
    WHERE remote_start_id IS NOT NULL;

-- Every NotifyReport part as the station sent it. A part is identified by
-- (station, requestId, seqNo): a retried part changes nothing.
CREATE TABLE report_parts (
    station_id   TEXT COLLATE "C" NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    request_id   INTEGER NOT NULL,
    seq_no       INTEGER NOT NULL,
    tbc          BOOLEAN NOT NULL,
    generated_at TIMESTAMPTZ NOT NULL,
    -- The part's reportData array (JSON), '[]' when it had none.
    report_data  TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (station_id, request_id, seq_no)
);

-- A report whose parts 0..n all arrived, n being the part with tbc false.
CREATE TABLE reports (
    station_id   TEXT COLLATE "C" NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    request_id   INTEGER NOT NULL,
    parts        INTEGER NOT NULL,
    generated_at TIMESTAMPTZ NOT NULL,
    completed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (station_id, request_id)
);
CREATE INDEX reports_latest_idx ON reports (station_id, completed_at);

-- +goose Down
DROP TABLE reports;
DROP TABLE report_parts;
DROP INDEX transactions_remote_start_idx;
ALTER TABLE transactions DROP COLUMN remote_start_id;
