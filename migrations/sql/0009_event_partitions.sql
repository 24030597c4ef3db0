-- green_events is partitioned by month of started_at (Asia/Shanghai months, so an issuance day,
-- a batch and a daily tally each lie in one partition). These functions belong to the tables'
-- owner and run as it (SECURITY DEFINER): the app's role may create the months ahead through
-- them, never drop or detach one (archiving is the owner's, `flask events archive`).

-- The partition of the Asia/Shanghai month starting `month` (its first day), created if missing.
-- Rows of that month the DEFAULT partition caught (no partition existed when they arrived) are
-- moved into it first: PostgreSQL refuses a new partition whose range the DEFAULT still holds.
CREATE FUNCTION green_events_create_partition(month date) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    first_day date := date_trunc('month', month)::date;
    name text := 'green_events_p' || to_char(first_day, 'YYYYMM');
    lower_bound timestamptz := (first_day::timestamp AT TIME ZONE 'Asia/Shanghai');
    upper_bound timestamptz := ((first_day + interval '1 month')::timestamp AT TIME ZONE 'Asia/Shanghai');
    held bigint;
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN name;
    END IF;
    -- One creator at a time (beat and an operator): the second finds the table made.
    PERFORM pg_advisory_xact_lock(7309000);
    IF to_regclass(name) IS NOT NULL THEN
        RETURN name;
    END IF;
    EXECUTE format('SELECT count(*) FROM green_events_default WHERE started_at >= %L AND started_at < %L',
                   lower_bound, upper_bound) INTO held;
    IF held > 0 THEN
        -- Made outside the table, filled from the DEFAULT, then attached: in one transaction.
        EXECUTE format('CREATE TABLE %I (LIKE green_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
        EXECUTE format('WITH moved AS (DELETE FROM green_events_default WHERE started_at >= %L AND started_at < %L '
                       'RETURNING *) INSERT INTO %I SELECT * FROM moved', lower_bound, upper_bound, name);
        EXECUTE format('ALTER TABLE green_events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       name, lower_bound, upper_bound);
    ELSE
        EXECUTE format('CREATE TABLE %I PARTITION OF green_events FOR VALUES FROM (%L) TO (%L)',
                       name, lower_bound, upper_bound);
    END IF;
    -- What 0002 set on the whole table: each month is updated once per event when quantified.
    EXECUTE format('ALTER TABLE %I SET (autovacuum_vacuum_scale_factor = 0.02, '
                   'autovacuum_analyze_scale_factor = 0.01)', name);
    RETURN name;
END $$;

-- Every month from `first_month` (at the latest the previous one: the claim window reaches a week
-- back) to `ahead` months after the current one (Asia/Shanghai), and every month the DEFAULT
-- partition holds rows of; returns the partitions it created.
CREATE FUNCTION green_events_ensure_partitions(ahead integer, first_month date DEFAULT NULL)
RETURNS SETOF text LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    this_month date := date_trunc('month', (now() AT TIME ZONE 'Asia/Shanghai'))::date;
    month date;
BEGIN
    IF ahead < 0 OR ahead > 120 THEN
        RAISE EXCEPTION 'ahead must be between 0 and 120 months, not %', ahead;
    END IF;
    FOR month IN
        SELECT DISTINCT date_trunc('month', started_at AT TIME ZONE 'Asia/Shanghai')::date
        FROM green_events_default
        UNION
        SELECT generate_series(least(coalesce(first_month, this_month), (this_month - interval '1 month')::date),
                               this_month + make_interval(months => ahead), interval '1 month')::date
        ORDER BY 1
    LOOP
        IF to_regclass('green_events_p' || to_char(month, 'YYYYMM')) IS NULL THEN
            RETURN NEXT green_events_create_partition(month);
        END IF;
    END LOOP;
END $$;

-- The duplicate guard. A unique index on a partitioned table must hold the partition key, and
-- (source, external_id) must stay unique whatever time a resend carries, so the keys live in
-- event_keys (not partitioned; never archived). Ingest claims them itself (INSERT … ON CONFLICT
-- DO NOTHING in the statement that inserts the events); this trigger claims, once per statement,
-- the keys of rows any other writer inserted, and a key another event holds fails the statement.
-- Always one index probe per new row: left to estimates (a key table never analyzed yet looks empty,
-- a plan cached for a bulk COPY expects 100,000 rows) the planner hashed the whole key table for a
-- one-trip insert (measured: 30 ms a trip at 100,000 keys, against microseconds).
CREATE FUNCTION green_events_claim_keys() RETURNS trigger
LANGUAGE plpgsql SET enable_hashjoin = off SET enable_mergejoin = off SET enable_seqscan = off
                 SET enable_bitmapscan = off AS $$
BEGIN
    INSERT INTO event_keys (source_id, external_id, event_id, started_at)
    SELECT n.source_id, n.external_id, n.id, n.started_at FROM new_events n
    WHERE NOT EXISTS (SELECT 1 FROM event_keys k WHERE k.source_id = n.source_id
                                                   AND k.external_id = n.external_id AND k.event_id = n.id);
    RETURN NULL;
END $$;

-- An event's identity (its key and the time that places it) never changes once recorded.
CREATE FUNCTION green_events_identity_fixed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.id, NEW.source_id, NEW.external_id, NEW.started_at)
       IS DISTINCT FROM (OLD.id, OLD.source_id, OLD.external_id, OLD.started_at) THEN
        RAISE EXCEPTION 'an event''s id, source, external_id and started_at never change'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;
