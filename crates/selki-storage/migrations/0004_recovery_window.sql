-- Failed and skipped deliveries stay recoverable for a recovery window,
-- then retention prunes them: oldest first.
CREATE INDEX deliveries_recoverable ON deliveries (updated_at)
    WHERE status IN ('failed', 'skipped');
