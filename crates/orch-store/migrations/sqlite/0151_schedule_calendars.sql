-- Calendars on schedules (issue 15): the calendar a schedule follows, as the
-- JSON of orch_core::CalendarSpec (NULL: none), and whether slots after an
-- early close are skipped. Numbered 0151 so that migrations added by work
-- on other issues at the same time keep their own numbers.
-- The same schema exists for the other backend in ../sqlite and ../postgres.

ALTER TABLE deployment_schedules ADD COLUMN calendar TEXT;
ALTER TABLE deployment_schedules ADD COLUMN skip_after_close BIGINT NOT NULL DEFAULT 1;
