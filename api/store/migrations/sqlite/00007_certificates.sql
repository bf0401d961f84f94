-- Certificates the CSMS's CA issued to stations, the certificates each
-- station reports as installed, and the station password being rotated.
-- Keep in step with ../postgres (same versions, same meaning).

-- +goose Up
-- One row per certificate the CA signed for a station (SignCertificate),
-- with the delivery of its CertificateSigned: recorded before the station
-- is answered, so a crash before the CALL goes out loses nothing.
CREATE TABLE issued_certificates (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id        TEXT NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    -- Lower-case hex, as OCPP hash data writes it.
    serial_number     TEXT NOT NULL,
    subject           TEXT NOT NULL,
    issuer            TEXT NOT NULL,
    not_before        DATETIME NOT NULL,
    not_after         DATETIME NOT NULL,
    certificate_type  TEXT NOT NULL,
    ocpp_version      TEXT NOT NULL,
    -- The CSR's hash: a retried SignCertificate reuses a pending issuance.
    csr_sha256        TEXT NOT NULL,
    -- PEM, leaf first: what CertificateSigned carries (public data).
    chain_pem         TEXT NOT NULL,
    -- pending (CertificateSigned not yet answered), accepted, rejected,
    -- failed (gave up), superseded (a newer CSR came first), replaced (a
    -- newer certificate was accepted).
    delivery_status   TEXT NOT NULL,
    delivery_attempts INTEGER NOT NULL DEFAULT 0,
    -- Pending only: when the next attempt is due. An instance claims an
    -- attempt by moving it forward.
    next_attempt_at   DATETIME NULL,
    delivery_error    TEXT NOT NULL DEFAULT '',
    -- The CertificateSigned command of the last attempt.
    command_id        TEXT NOT NULL DEFAULT '',
    -- When the expiry-within-30-days security event was raised.
    expiry_warned_at  DATETIME NULL,
    created_at        DATETIME NOT NULL,
    updated_at        DATETIME NOT NULL
);
CREATE INDEX issued_certificates_station ON issued_certificates (station_id, id);
CREATE UNIQUE INDEX issued_certificates_serial ON issued_certificates (serial_number);
CREATE INDEX issued_certificates_due ON issued_certificates (next_attempt_at) WHERE delivery_status = 'pending';
CREATE INDEX issued_certificates_expiry ON issued_certificates (not_after)
    WHERE delivery_status = 'accepted' AND expiry_warned_at IS NULL;

-- The certificates a station said it has installed (the answers to
-- GetInstalledCertificateIds, and what InstallCertificate and
-- DeleteCertificate changed since), by OCPP hash data.
CREATE TABLE station_certificates (
    station_id         TEXT NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    certificate_type   TEXT NOT NULL,
    hash_algorithm     TEXT NOT NULL,
    issuer_name_hash   TEXT NOT NULL,
    issuer_key_hash    TEXT NOT NULL,
    serial_number      TEXT NOT NULL,
    -- 2.0.1: the chain's child certificates' hash data, a JSON array; ''
    -- when none.
    child_certificates TEXT NOT NULL DEFAULT '',
    reported_at        DATETIME NOT NULL,
    PRIMARY KEY (station_id, certificate_type, hash_algorithm, issuer_name_hash, issuer_key_hash, serial_number)
);

-- Password rotation: the password sent to the station and not yet known
-- to be in use (pending), and the one it replaced, valid until the station
-- connects with the new one (previous). Argon2id hashes, like
-- password_hash.
ALTER TABLE stations ADD COLUMN pending_password_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE stations ADD COLUMN previous_password_hash TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE stations DROP COLUMN previous_password_hash;
ALTER TABLE stations DROP COLUMN pending_password_hash;
DROP TABLE station_certificates;
DROP TABLE issued_certificates;
