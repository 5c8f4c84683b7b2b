-- The store's tables as rows: (table, key) → value, keys ordered as bytes (memcmp), as redb.
CREATE TABLE gatehouse_kv (
    tbl text COLLATE "C" NOT NULL,
    k bytea NOT NULL,
    v bytea NOT NULL,
    PRIMARY KEY (tbl, k)
);
