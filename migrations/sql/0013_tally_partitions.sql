-- daily_tallies is partitioned by month of `day` (an Asia/Shanghai date already, so the bounds are
-- plain dates). The quantifier reads and writes the tallies of the claim window only, about a week:
-- with a month per partition those rows sit in one or two small tables instead of scattered over
-- an index of every day every resident ever had (one leaf page per resident, as many pages as
-- residents for each batch). Like green_events' functions (0009_event_partitions.sql) these belong
-- to the table's owner and run as it: the app's role may create months ahead, never drop one.

-- The partition of the month starting `month` (its first day), created if missing. Rows of that
-- month the DEFAULT partition caught are moved into it first (PostgreSQL refuses a new partition
-- whose range the DEFAULT still holds).
CREATE FUNCTION daily_tallies_create_partition(month date) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    first_day date := date_trunc('month', month)::date;
    next_first_day date := (date_trunc('month', month) + interval '1 month')::date;
    name text := 'daily_tallies_p' || to_char(first_day, 'YYYYMM');
    held bigint;
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN name;
    END IF;
    -- One creator at a time (beat and an operator): the second finds the table made.
    PERFORM pg_advisory_xact_lock(7309001);
    IF to_regclass(name) IS NOT NULL THEN
        RETURN name;
    END IF;
    SELECT count(*) INTO held FROM daily_tallies_default WHERE day >= first_day AND day < next_first_day;
    IF held > 0 THEN
        -- Made outside the table, filled from the DEFAULT, then attached: in one transaction.
        EXECUTE format('CREATE TABLE %I (LIKE daily_tallies INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
        EXECUTE format('WITH moved AS (DELETE FROM daily_tallies_default WHERE day >= %L AND day < %L '
                       'RETURNING *) INSERT INTO %I SELECT * FROM moved', first_day, next_first_day, name);
        EXECUTE format('ALTER TABLE daily_tallies ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       name, first_day, next_first_day);
    ELSE
        EXECUTE format('CREATE TABLE %I PARTITION OF daily_tallies FOR VALUES FROM (%L) TO (%L)',
                       name, first_day, next_first_day);
    END IF;
    -- What 0002 set on the whole table: a tally is updated in place by every batch that meets its day.
    EXECUTE format('ALTER TABLE %I SET (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02)', name);
    RETURN name;
END $$;

-- Every month from `first_month` (at the latest the previous one: the claim window reaches a week
-- back) to `ahead` months after the current one (Asia/Shanghai), and every month the DEFAULT
-- partition holds rows of; returns the partitions it created.
CREATE FUNCTION daily_tallies_ensure_partitions(ahead integer, first_month date DEFAULT NULL)
RETURNS SETOF text LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    this_month date := date_trunc('month', (now() AT TIME ZONE 'Asia/Shanghai'))::date;
    month date;
BEGIN
    IF ahead < 0 OR ahead > 120 THEN
        RAISE EXCEPTION 'ahead must be between 0 and 120 months, not %', ahead;
    END IF;
    FOR month IN
        SELECT DISTINCT date_trunc('month', day)::date FROM daily_tallies_default
        UNION
        SELECT generate_series(least(coalesce(first_month, this_month), (this_month - interval '1 month')::date),
                               this_month + make_interval(months => ahead), interval '1 month')::date
        ORDER BY 1
    LOOP
        IF to_regclass('daily_tallies_p' || to_char(month, 'YYYYMM')) IS NULL THEN
            RETURN NEXT daily_tallies_create_partition(month);
        END IF;
    END LOOP;
END $$;
