-- A movement that takes the front of a block cuts it in place (issue 12).
--
-- Until now every movement of part of a block split it: the block was marked `split` (history)
-- and both parts were written as blocks of their own, each insert checked by four foreign keys and
-- the exclusion constraint. A transfer takes the oldest units first, so nearly every one took the
-- front of a block: now the block keeps its id and the units it keeps (its first serial moves up
-- past the units taken) and only the part moved is written. A cut inside a block (a revocation of
-- units in its middle) still splits it as before.
--
-- A block's range therefore changes as its front is taken, and what a movement moved is no longer
-- "the block's range": each block movement records the serials it moved. Every reader of what a
-- transaction moved (history, replays, the export, the public totals and certificates, order
-- fills, the trace) reads them there.
--
-- The GiST exclusion constraint (invariant 4) stays as it was. An SP-GiST one on a single range
-- per block was 8% faster on movements spread over many accounts, but SP-GiST never marks the
-- index entries of dead row versions as such during scans (GiST does, and reclaims them): the
-- versions a cut leaves behind piled up, and a few hot accounts' movements slowed from 1,137 to
-- 861 tps within 32 seconds (GiST: steady at ~1,250).

-- 1. What each block movement moved. Rows written so far moved their block's whole range, which
--    never changed once moved (a split block keeps its range as history).
ALTER TABLE block_movements ADD COLUMN first_serial bigint, ADD COLUMN last_serial bigint;
ALTER TABLE block_movements DISABLE TRIGGER block_movements_append_only;
UPDATE block_movements AS m SET first_serial = b.first_serial, last_serial = b.last_serial
FROM credit_blocks AS b WHERE b.id = m.block_id;
ALTER TABLE block_movements ENABLE TRIGGER block_movements_append_only;
ALTER TABLE block_movements ALTER COLUMN first_serial SET NOT NULL, ALTER COLUMN last_serial SET NOT NULL,
    ADD CONSTRAINT ck_block_movements_range CHECK (first_serial >= 1 AND last_serial >= first_serial);

-- 2. Issuance records the range each line's block came into being with.
CREATE OR REPLACE FUNCTION ledger_issue(
    p_batch bigint, p_scope text, p_key text, p_request_hash text, p_actor_id integer, p_memo text,
    p_accounts bigint[], p_quantities bigint[],
    p_audit_actor text, p_audit_subject text, p_audit_payload jsonb, p_at timestamptz DEFAULT clock_timestamp(),
    OUT transaction_id bigint, OUT replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    issuance bigint;
    total bigint;
BEGIN
    SELECT c.transaction_id, c.replayed INTO transaction_id, replayed
    FROM ledger_claim('issue', p_scope, p_key, p_request_hash, p_actor_id, p_memo, p_at) AS c;
    IF replayed THEN
        RETURN;
    END IF;
    SELECT a.id INTO issuance FROM accounts AS a WHERE a.number = 'SYSISSUANCE';
    PERFORM 1 FROM accounts AS a WHERE a.id = ANY(p_accounts || issuance) ORDER BY a.id FOR UPDATE;
    SELECT coalesce(sum(q), 0) INTO total FROM unnest(p_quantities) AS q;
    IF total <= 0 OR EXISTS (SELECT 1 FROM unnest(p_quantities) AS q WHERE q <= 0) THEN
        PERFORM ledger_refuse('invalid_amount');
    END IF;
    WITH lines AS (
        SELECT l.account_id, l.quantity, sum(l.quantity) OVER (ORDER BY l.position) AS running
        FROM unnest(p_accounts, p_quantities) WITH ORDINALITY AS l(account_id, quantity, position)),
    blocks AS (
        INSERT INTO credit_blocks (batch_id, first_serial, last_serial, account_id, status, created_in)
        SELECT p_batch, running - quantity + 1, running, account_id, 'active', transaction_id FROM lines
        RETURNING id, account_id, first_serial, last_serial)
    INSERT INTO block_movements (transaction_id, block_id, from_account_id, to_account_id, first_serial, last_serial)
    SELECT transaction_id, id, NULL, account_id, first_serial, last_serial FROM blocks;
    PERFORM ledger_post(transaction_id, issuance || p_accounts, -total || p_quantities);
    PERFORM ledger_audit(p_audit_actor, 'batch_issued', p_audit_subject,
                         p_audit_payload
                         || ledger_header(transaction_id, 'issue', p_scope, p_key, p_request_hash, p_memo, p_at)
                         || jsonb_build_object('quantity_g', total, 'accounts', cardinality(p_accounts)),
                         p_at);
END $$;

-- 3. The block step: whole blocks move as they are, a front is cut in place, a middle splits.
--    One statement per block touched, not one set-based statement over arrays of them: a movement
--    touches one or two blocks, and the statements on one row by id keep plans that cost less than
--    the joins over unnested arrays did (measured: ~9% of the movement).
CREATE OR REPLACE FUNCTION ledger_take_ranges(
    p_transaction bigint, p_from bigint, p_to bigint, p_amount bigint, p_status text,
    p_within_batch bigint, p_within_first bigint, p_within_last bigint,
    OUT ids bigint[], OUT prefixes text[], OUT firsts bigint[], OUT lasts bigint[], OUT taken bigint)
LANGUAGE plpgsql AS $$
DECLARE
    blocks refcursor;
    block record;
    lo bigint;
    hi bigint;
    part bigint;
BEGIN
    ids := '{}'; prefixes := '{}'; firsts := '{}'; lasts := '{}'; taken := 0;
    -- The sender's blocks, oldest first (ix_credit_blocks_active_by_account), read only as far
    -- as the amount needs. Two queries, not one with an OR of the cases, so each keeps one plan.
    IF p_within_batch IS NULL THEN
        OPEN blocks FOR
            SELECT b.id, b.batch_id, b.first_serial, b.last_serial, i.serial_prefix::text AS prefix
            FROM credit_blocks AS b JOIN issuance_batches AS i ON i.id = b.batch_id
            WHERE b.account_id = p_from AND b.status = 'active'
            ORDER BY b.batch_id, b.first_serial;
    ELSE
        OPEN blocks FOR
            SELECT b.id, b.batch_id, b.first_serial, b.last_serial, i.serial_prefix::text AS prefix
            FROM credit_blocks AS b JOIN issuance_batches AS i ON i.id = b.batch_id
            WHERE b.account_id = p_from AND b.status = 'active' AND b.batch_id = p_within_batch
              AND b.last_serial >= p_within_first AND b.first_serial <= p_within_last
            ORDER BY b.batch_id, b.first_serial;
    END IF;
    LOOP
        FETCH blocks INTO block;
        EXIT WHEN NOT FOUND;
        lo := block.first_serial;
        hi := block.last_serial;
        IF p_within_batch IS NOT NULL THEN
            lo := greatest(lo, p_within_first);
            hi := least(hi, p_within_last);
        END IF;
        IF p_amount IS NOT NULL THEN
            hi := least(hi, lo + (p_amount - taken) - 1);
        END IF;
        IF lo = block.first_serial AND hi = block.last_serial THEN
            -- the whole block moves
            UPDATE credit_blocks SET account_id = p_to, status = p_status WHERE id = block.id;
            part := block.id;
        ELSIF lo = block.first_serial THEN
            -- its front: the block keeps the rest (its first serial moves up past the units
            -- taken) and the moved part is a block of its own. Shrunk first, then written, so
            -- the exclusion constraint never sees the two overlap.
            UPDATE credit_blocks SET first_serial = hi + 1 WHERE id = block.id;
            INSERT INTO credit_blocks (batch_id, first_serial, last_serial, account_id, status, parent_id, created_in)
            VALUES (block.batch_id, lo, hi, p_to, p_status, block.id, p_transaction) RETURNING id INTO part;
        ELSE
            -- from inside it: the block becomes history (`split`), its parts blocks of their own
            UPDATE credit_blocks SET status = 'split' WHERE id = block.id;
            INSERT INTO credit_blocks (batch_id, first_serial, last_serial, account_id, status, parent_id, created_in)
            VALUES (block.batch_id, block.first_serial, lo - 1, p_from, 'active', block.id, p_transaction);
            INSERT INTO credit_blocks (batch_id, first_serial, last_serial, account_id, status, parent_id, created_in)
            VALUES (block.batch_id, lo, hi, p_to, p_status, block.id, p_transaction) RETURNING id INTO part;
            IF hi < block.last_serial THEN
                INSERT INTO credit_blocks (batch_id, first_serial, last_serial, account_id, status, parent_id,
                                           created_in)
                VALUES (block.batch_id, hi + 1, block.last_serial, p_from, 'active', block.id, p_transaction);
            END IF;
        END IF;
        ids := ids || part;
        prefixes := prefixes || block.prefix;
        firsts := firsts || lo;
        lasts := lasts || hi;
        taken := taken + (hi - lo + 1);
        EXIT WHEN taken = p_amount;
    END LOOP;
    CLOSE blocks;
    IF taken = 0 OR (p_amount IS NOT NULL AND taken < p_amount) THEN
        PERFORM ledger_refuse(CASE WHEN p_amount IS NULL THEN 'nothing_to_move' ELSE 'insufficient_balance' END,
                              jsonb_build_object('needed', p_amount, 'short', p_amount - taken));
    END IF;
    INSERT INTO block_movements (transaction_id, block_id, from_account_id, to_account_id, first_serial, last_serial)
    SELECT p_transaction, m.id, p_from, p_to, m.first, m.last FROM unnest(ids, firsts, lasts) AS m(id, first, last);
END $$;

-- 4. A replayed movement answers with the ranges it moved (the blocks' own may have been cut since).
CREATE OR REPLACE FUNCTION ledger_move(
    p_kind text, p_scope text, p_key text, p_request_hash text, p_actor_id integer, p_memo text,
    p_from bigint, p_to bigint, p_amount bigint,
    p_status text DEFAULT 'active',
    p_within_batch bigint DEFAULT NULL, p_within_first bigint DEFAULT NULL, p_within_last bigint DEFAULT NULL,
    p_sender_may_be_frozen boolean DEFAULT false, p_receiver_may_be_frozen boolean DEFAULT false,
    p_audit_actor text DEFAULT 'system', p_audit_action text DEFAULT NULL, p_audit_subject text DEFAULT NULL,
    p_audit_payload jsonb DEFAULT '{}', p_at timestamptz DEFAULT clock_timestamp())
RETURNS TABLE (transaction_id bigint, replayed boolean, block_id bigint, serial_prefix text,
               first_serial bigint, last_serial bigint)
LANGUAGE plpgsql
-- Every statement below keeps one cached plan: with custom plans some were planned again on
-- every call (about a sixth of the movement's CPU), and no plan here depends on the values.
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    tx bigint;
    account record;
    locked integer := 0;
    sender_kind text;
    sender_balance bigint;
    moved record;
BEGIN
    IF p_from IS NULL OR p_to IS NULL THEN
        PERFORM ledger_refuse('account_not_found');
    END IF;
    IF p_from = p_to THEN
        PERFORM ledger_refuse('same_account');
    END IF;
    IF p_amount IS NOT NULL AND p_amount <= 0 THEN
        PERFORM ledger_refuse('invalid_amount');
    END IF;

    -- Claim the key here (ledger_claim's statement, one call fewer); a conflict is a replay or a
    -- reuse, which ledger_claim tells apart.
    INSERT INTO journal_transactions (kind, idempotency_scope, idempotency_key, request_hash, actor_id, memo, created_at)
    VALUES (p_kind, p_scope, p_key, p_request_hash, p_actor_id, p_memo, p_at)
    ON CONFLICT (idempotency_scope, idempotency_key) DO NOTHING
    RETURNING id INTO tx;
    IF tx IS NULL THEN
        SELECT c.transaction_id INTO tx
        FROM ledger_claim(p_kind, p_scope, p_key, p_request_hash, p_actor_id, p_memo, p_at) AS c;
        RETURN QUERY
            SELECT tx, true, m.block_id, i.serial_prefix::text, m.first_serial, m.last_serial
            FROM block_movements AS m JOIN credit_blocks AS b ON b.id = m.block_id
            JOIN issuance_batches AS i ON i.id = b.batch_id
            WHERE m.transaction_id = tx ORDER BY b.batch_id, m.first_serial;
        RETURN;
    END IF;

    -- Rows are locked as they leave the sort, so in id order: two movements in opposite
    -- directions never deadlock.
    FOR account IN SELECT a.id, a.kind, a.balance_g, a.frozen_at FROM accounts AS a
                   WHERE a.id IN (p_from, p_to) ORDER BY a.id FOR UPDATE
    LOOP
        locked := locked + 1;
        IF account.frozen_at IS NOT NULL AND NOT (CASE WHEN account.id = p_from THEN p_sender_may_be_frozen
                                                       ELSE p_receiver_may_be_frozen END) THEN
            PERFORM ledger_refuse('account_frozen');
        END IF;
        IF account.id = p_from THEN
            sender_kind := account.kind;
            sender_balance := account.balance_g;
        END IF;
    END LOOP;
    IF locked < 2 THEN
        PERFORM ledger_refuse('account_not_found');
    END IF;
    IF p_amount IS NOT NULL AND sender_kind <> 'issuance' AND sender_balance < p_amount THEN
        PERFORM ledger_refuse('insufficient_balance',
                              jsonb_build_object('balance_g', sender_balance, 'needed', p_amount));
    END IF;

    -- The blocks, then the entries (two, summing to zero) and balances: ledger_post's statements.
    moved := ledger_take_ranges(tx, p_from, p_to, p_amount, p_status, p_within_batch, p_within_first, p_within_last);
    INSERT INTO journal_entries (transaction_id, account_id, amount_g)
    VALUES (tx, p_from, -moved.taken), (tx, p_to, moved.taken);
    UPDATE accounts AS a SET balance_g = a.balance_g + CASE WHEN a.id = p_to THEN moved.taken ELSE -moved.taken END
    WHERE a.id IN (p_from, p_to);
    PERFORM ledger_audit(p_audit_actor, coalesce(p_audit_action, p_kind),
        coalesce(p_audit_subject, 'transaction:' || tx),
        p_audit_payload || ledger_header(tx, p_kind, p_scope, p_key, p_request_hash, p_memo, p_at) || jsonb_build_object(
            'from', p_from, 'to', p_to, 'amount_g', moved.taken,
            'serials', (SELECT jsonb_agg(ledger_serials(r.prefix, r.first_serial, r.last_serial))
                        FROM unnest(moved.prefixes, moved.firsts, moved.lasts) AS r(prefix, first_serial, last_serial))),
        p_at);
    RETURN QUERY SELECT tx, false, r.id, r.prefix, r.first_serial, r.last_serial
                 FROM unnest(moved.ids, moved.prefixes, moved.firsts, moved.lasts)
                      AS r(id, prefix, first_serial, last_serial);
END $$;
