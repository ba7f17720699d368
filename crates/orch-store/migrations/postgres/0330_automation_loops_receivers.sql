-- Automations under hostile input (issue 28). The same schema exists for the
-- other backend in ../sqlite and ../postgres.
--
-- Loop protection: a firing that would continue a chain of automations
-- creating runs through an automation already in it (or past the longest
-- chain allowed) is written loop-suppressed (automation_firings.suppressed
-- = 2, the reason in note); the automation counts them and keeps the last
-- reason and time for its page. The chain itself lives in each firing's
-- context (automation_chain), found from a run through its idempotency key.
ALTER TABLE automations ADD COLUMN loop_suppressed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE automations ADD COLUMN loop_message TEXT NOT NULL DEFAULT '';
ALTER TABLE automations ADD COLUMN loop_suppressed_at BIGINT;
ALTER TABLE automation_firings ADD COLUMN note TEXT NOT NULL DEFAULT '';

-- Deliveries are queued per receiver (the server an action talks to: a
-- URL's scheme, host and port; the SMTP server; orch itself), so that the
-- delivery loop claims none of a receiver already at its limit of attempts
-- in flight. '' for deliveries written before: their receiver is read from
-- the spec when claimed.
ALTER TABLE automation_deliveries ADD COLUMN receiver TEXT NOT NULL DEFAULT '';
