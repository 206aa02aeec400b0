-- A client event id is used once per organization. The unique index that
-- says so moves off `events` into a table of its own: on PostgreSQL,
-- `events` is partitioned by time, and a partitioned table's unique index
-- must contain the partition key. Retention removes an event's row here
-- with the event.
CREATE TABLE event_client_ids (
    organization_id  TEXT NOT NULL,
    client_event_id  TEXT NOT NULL,
    event_id         TEXT NOT NULL,
    PRIMARY KEY (organization_id, client_event_id)
);
-- Retention: the rows of a range of events.
CREATE INDEX event_client_ids_by_event ON event_client_ids (event_id);
INSERT INTO event_client_ids (organization_id, client_event_id, event_id)
    SELECT organization_id, client_event_id, id FROM events
    WHERE client_event_id IS NOT NULL;
-- Looking an event up by its client id still goes through `events`.
DROP INDEX events_by_client_id;
CREATE INDEX events_by_client_id ON events (organization_id, client_event_id)
    WHERE client_event_id IS NOT NULL;
