-- PostgreSQL enforces the record's and the registry's invariants itself, whoever writes
-- (DOMAIN.md §5).

-- An approved methodology version is immutable: a change is a new version. The database
-- refuses an edit of what produced results (factors, dates, numbering) and un-retiring.
CREATE FUNCTION methodology_versions_frozen() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status IN ('approved', 'retired') THEN
            RAISE EXCEPTION 'methodology version % was approved and cannot be deleted', OLD.id;
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status IN ('approved', 'retired') AND (
        NEW.parameters::text <> OLD.parameters::text OR NEW.sources::text <> OLD.sources::text
        OR NEW.effective_from <> OLD.effective_from OR NEW.effective_to IS DISTINCT FROM OLD.effective_to
        OR NEW.version <> OLD.version OR NEW.methodology_id <> OLD.methodology_id
        OR NEW.approved_at IS DISTINCT FROM OLD.approved_at OR NEW.approved_by IS DISTINCT FROM OLD.approved_by
        OR (OLD.status = 'retired' AND NEW.status <> 'retired')
        OR (OLD.status = 'approved' AND NEW.status NOT IN ('approved', 'retired'))
    ) THEN
        RAISE EXCEPTION 'methodology version % is approved and immutable; file a new version', OLD.id;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER methodology_versions_frozen BEFORE UPDATE OR DELETE ON methodology_versions
    FOR EACH ROW EXECUTE FUNCTION methodology_versions_frozen();

CREATE EXTENSION IF NOT EXISTS btree_gist;

-- Invariant 4: blocks of a batch never overlap (split blocks are history, not holdings).
ALTER TABLE credit_blocks ADD CONSTRAINT ex_credit_blocks_no_overlap
    EXCLUDE USING gist (batch_id WITH =, int8range(first_serial, last_serial, '[]') WITH &&)
    WHERE (status <> 'split');

-- Invariant 6: retired and revoked units never move again. The WHEN clause calls the function
-- only for the rows it refuses, so a movement's ordinary blocks skip the call.
CREATE FUNCTION credit_blocks_final() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'block % is % and can never move again', OLD.id, OLD.status;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER credit_blocks_final BEFORE UPDATE OR DELETE ON credit_blocks
    FOR EACH ROW WHEN (OLD.status IN ('retired', 'revoked')) EXECUTE FUNCTION credit_blocks_final();

-- The journal is append-only.
CREATE FUNCTION journal_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the journal is append-only: % refused', TG_OP;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION journal_append_only();
CREATE TRIGGER block_movements_append_only BEFORE UPDATE OR DELETE ON block_movements
    FOR EACH ROW EXECUTE FUNCTION journal_append_only();

-- Invariant 1: a transaction's entries sum to zero, checked when it commits.
CREATE FUNCTION journal_transaction_balanced() RETURNS trigger AS $$
DECLARE total bigint; lines integer;
BEGIN
    SELECT COALESCE(SUM(amount_g), 0), COUNT(*) INTO total, lines FROM journal_entries WHERE transaction_id = NEW.id;
    IF total <> 0 OR lines < 2 THEN
        RAISE EXCEPTION 'journal transaction % is unbalanced (% over % entries)', NEW.id, total, lines;
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE CONSTRAINT TRIGGER journal_transactions_balanced AFTER INSERT ON journal_transactions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION journal_transaction_balanced();

-- Invariant 8: a sealed audit record is never edited or removed.
CREATE FUNCTION audit_records_sealed() RETURNS trigger AS $$
BEGIN
    IF OLD.seq IS NOT NULL THEN
        RAISE EXCEPTION 'audit record % is sealed', OLD.id;
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER audit_records_sealed BEFORE UPDATE OR DELETE ON audit_records
    FOR EACH ROW EXECUTE FUNCTION audit_records_sealed();
