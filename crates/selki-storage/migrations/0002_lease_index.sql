-- A worker reads back the rows of its claim by lease token.
CREATE INDEX deliveries_by_lease ON deliveries (leased_by) WHERE leased_by IS NOT NULL;
