-- The change feed: every write to a row other replicas keep a copy of (or wait on) is announced
-- on channel `gatehouse_changes` as "<table> <key in hex>", delivered at commit to every
-- replica LISTENing (see src/store/postgres/feed.rs). Rolled-back writes announce nothing.
-- `feed_probe` rows are each replica's own heartbeat through this trigger (feed.rs).
CREATE FUNCTION gatehouse_kv_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('gatehouse_changes', OLD.tbl || ' ' || encode(OLD.k, 'hex'));
    ELSE
        PERFORM pg_notify('gatehouse_changes', NEW.tbl || ' ' || encode(NEW.k, 'hex'));
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER gatehouse_kv_written AFTER INSERT OR UPDATE ON gatehouse_kv FOR EACH ROW
    WHEN (NEW.tbl IN ('sessions', 'users', 'personal_tokens', 'outbox', 'webhook_deliveries', 'feed_probe'))
    EXECUTE FUNCTION gatehouse_kv_changed();

CREATE TRIGGER gatehouse_kv_deleted AFTER DELETE ON gatehouse_kv FOR EACH ROW
    WHEN (OLD.tbl IN ('sessions', 'users', 'personal_tokens', 'outbox', 'webhook_deliveries', 'feed_probe'))
    EXECUTE FUNCTION gatehouse_kv_changed();
