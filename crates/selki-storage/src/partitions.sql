-- PostgreSQL only: calls and events partitioned by day, so retention drops
-- a day's partition instead of deleting its rows. Run at every start
-- (idempotent), under an advisory lock.

-- The smallest id of a millisecond, as `EventId::first_at` writes it:
-- the prefix, 10 Crockford base32 characters of time, 16 zeros.
CREATE OR REPLACE FUNCTION selki_id_floor(prefix TEXT, ms BIGINT) RETURNS TEXT
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT prefix || '_' || string_agg(
        substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', ((ms >> (45 - 5 * i)) & 31)::INT + 1, 1),
        '' ORDER BY i) || '0000000000000000'
    FROM generate_series(0, 9) AS i
$$;

-- The partition of the UTC day starting at `day_ms`, made if missing; rows
-- of that day waiting in the default partition move into it. False when
-- it exists, or when another partition (the rows from before
-- partitioning) covers part of the day already.
CREATE OR REPLACE FUNCTION selki_ensure_day(tbl TEXT, prefix TEXT, day_ms BIGINT) RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
DECLARE
    part TEXT := tbl || '_' || to_char(to_timestamp(day_ms / 1000) AT TIME ZONE 'UTC', 'YYYYMMDD');
    lo TEXT := selki_id_floor(prefix, day_ms);
    hi TEXT := selki_id_floor(prefix, day_ms + 86400000);
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN FALSE;
    END IF;
    BEGIN
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS)', part, tbl);
        EXECUTE format('WITH moved AS (DELETE FROM %I WHERE id >= $1 AND id < $2 RETURNING *) '
                       'INSERT INTO %I SELECT * FROM moved', tbl || '_default', part)
            USING lo, hi;
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       tbl, part, lo, hi);
    EXCEPTION WHEN invalid_object_definition THEN
        -- "would overlap partition": the day is (partly) another's.
        RETURN FALSE;
    END;
    RETURN TRUE;
END
$$;

-- Turns a plain table into a partitioned one whose first partition is the
-- table itself, holding every id below `bound` (no row is copied; an empty
-- table is dropped instead), with a
-- default partition for ids no day partition takes. Its indexes are made
-- again on the parent, all but `skip` (the time index that only row-by-row
-- retention needed).
CREATE OR REPLACE FUNCTION selki_partition(tbl TEXT, bound TEXT, skip TEXT) RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
DECLARE
    legacy TEXT := tbl || '_legacy';
    idx RECORD;
    defs TEXT[] := '{}';
    def TEXT;
    kept BOOLEAN;
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = tbl::regclass) = 'p' THEN
        RETURN FALSE;
    END IF;
    FOR idx IN
        SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def, i.indisprimary AS pk
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = tbl::regclass
    LOOP
        IF idx.name = skip THEN
            EXECUTE format('DROP INDEX %I', idx.name);
            CONTINUE;
        END IF;
        IF idx.pk THEN
            EXECUTE format('ALTER TABLE %I RENAME CONSTRAINT %I TO %I', tbl, idx.name, legacy || '_pkey');
        ELSE
            defs := defs || idx.def;
            EXECUTE format('ALTER INDEX %I RENAME TO %I', idx.name, idx.name || '_legacy');
        END IF;
    END LOOP;
    EXECUTE format('ALTER TABLE %I RENAME TO %I', tbl, legacy);
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS) PARTITION BY RANGE (id)', tbl, legacy);
    EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (id)', tbl);
    -- The definitions name the table by its old name, now the parent's.
    FOREACH def IN ARRAY defs LOOP
        EXECUTE def;
    END LOOP;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I)', legacy) INTO kept;
    IF kept THEN
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (MINVALUE) TO (%L)',
                       tbl, legacy, bound);
    ELSE
        -- A new database: every day gets a partition of its own.
        EXECUTE format('DROP TABLE %I', legacy);
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', tbl || '_default', tbl);
    RETURN TRUE;
END
$$;
