-- Roles: every user has one (admin, operator, viewer). Users that existed
-- before roles could do everything, so they become admins. A disabled user
-- cannot log in; token_generation is bumped by a role change, a disable or
-- a password change, which ends every access token issued before.

-- +goose Up
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'admin';
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMPTZ NULL;
ALTER TABLE users ADD COLUMN token_generation BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE users DROP COLUMN token_generation;
ALTER TABLE users DROP COLUMN disabled_at;
ALTER TABLE users DROP COLUMN role;
