-- The movement in fewer, cheaper statements (issue 12). Same arguments, same results, same
-- rows written, same refusals; what changed is how much work each call costs the server:
-- * ledger_audit is PL/pgSQL: as a SQL function holding an INSERT it was parsed and planned
--   again in every transaction that called it;
-- * the block step (ledger_take_ranges) hands back arrays instead of a set the caller loops
--   over, writes every split (the original marked `split`, its parts inserted) in one
--   statement, and reads the sender's blocks with one of two queries rather than one query
--   with an OR of the cases (which was planned again per call);
-- * ledger_move claims its key and posts its two entries itself (ledger_claim's and
--   ledger_post's statements, without the nested calls) and keeps generic plans.
-- ledger_take (the market's step, a set) now returns what ledger_take_ranges moved.

CREATE OR REPLACE FUNCTION ledger_audit(p_actor text, p_action text, p_subject text, p_payload jsonb, p_at timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_records (actor, action, subject, payload, payload_digest, created_at)
    VALUES (p_actor, p_action, p_subject, p_payload, encode(sha256(convert_to(p_payload::text, 'UTF8')), 'hex'), p_at);
END $$;

CREATE FUNCTION ledger_take_ranges(
    p_transaction bigint, p_from bigint, p_to bigint, p_amount bigint, p_status text,
    p_within_batch bigint, p_within_first bigint, p_within_last bigint,
    OUT ids bigint[], OUT prefixes text[], OUT firsts bigint[], OUT lasts bigint[], OUT taken bigint)
LANGUAGE plpgsql AS $$
DECLARE
    blocks refcursor;
    block record;
    lo bigint;
    hi bigint;
    whole bigint[] := '{}';
    split_ids bigint[] := '{}';
    moved_part_ids bigint[];
    split_los bigint[] := '{}';
    split_his bigint[] := '{}';
BEGIN
    ids := '{}'; prefixes := '{}'; firsts := '{}'; lasts := '{}'; taken := 0;
    -- The sender's blocks, oldest first (ix_credit_blocks_active_by_account), read only as far
    -- as the amount needs. A block the range begins or ends inside is split: the part moved
    -- and the parts kept become blocks of their own, the original `split` (history).
    -- Two queries, not one with an OR of the cases, so each keeps one cached plan.
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
            whole := whole || block.id;
            ids := ids || block.id;
        ELSE
            split_ids := split_ids || block.id;
            split_los := split_los || lo;
            split_his := split_his || hi;
            ids := ids || NULL::bigint;  -- the moved part's id, once it exists
        END IF;
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
    IF cardinality(whole) > 0 THEN
        UPDATE credit_blocks SET account_id = p_to, status = p_status WHERE id = ANY(whole);
    END IF;
    IF cardinality(split_ids) > 0 THEN
        -- Each split block becomes history and its parts blocks of their own, in one statement:
        -- a part is written only after its parent row is marked split (it is made from the
        -- UPDATE's returned row), so the exclusion constraint never sees the two overlap.
        WITH parent AS (
            UPDATE credit_blocks AS b SET status = 'split'
            FROM unnest(split_ids, split_los, split_his) AS s(id, lo, hi)
            WHERE b.id = s.id
            RETURNING b.id, b.batch_id, b.first_serial, b.last_serial, s.lo, s.hi),
        part AS (
            INSERT INTO credit_blocks (batch_id, first_serial, last_serial, account_id, status, parent_id, created_in)
            SELECT p.batch_id, k.first_serial, k.last_serial, k.account_id, k.status, p.id, p_transaction
            FROM parent AS p CROSS JOIN LATERAL (VALUES (p.first_serial, p.lo - 1, p_from, 'active'),
                                                        (p.lo, p.hi, p_to, p_status),
                                                        (p.hi + 1, p.last_serial, p_from, 'active'))
                 AS k(first_serial, last_serial, account_id, status)
            WHERE k.first_serial <= k.last_serial
            RETURNING id, batch_id, first_serial, account_id)
        SELECT array_agg(id ORDER BY batch_id, first_serial) INTO moved_part_ids FROM part WHERE account_id = p_to;
        -- fill the moved parts' ids into their places (split blocks are listed in serial order)
        FOR i IN 1 .. cardinality(ids) LOOP
            IF ids[i] IS NULL THEN
                ids[i] := moved_part_ids[1];
                moved_part_ids := moved_part_ids[2:];
            END IF;
        END LOOP;
    END IF;
    INSERT INTO block_movements (transaction_id, block_id, from_account_id, to_account_id)
    SELECT p_transaction, unnest(ids), p_from, p_to;
END $$;

CREATE OR REPLACE FUNCTION ledger_take(
    p_transaction bigint, p_from bigint, p_to bigint, p_amount bigint, p_status text,
    p_within_batch bigint DEFAULT NULL, p_within_first bigint DEFAULT NULL, p_within_last bigint DEFAULT NULL)
RETURNS TABLE (block_id bigint, serial_prefix text, first_serial bigint, last_serial bigint)
LANGUAGE plpgsql AS $$
DECLARE
    moved record;
BEGIN
    moved := ledger_take_ranges(p_transaction, p_from, p_to, p_amount, p_status, p_within_batch, p_within_first,
                                p_within_last);
    RETURN QUERY SELECT r.id, r.prefix, r.first_serial, r.last_serial
                 FROM unnest(moved.ids, moved.prefixes, moved.firsts, moved.lasts)
                      AS r(id, prefix, first_serial, last_serial);
END $$;

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
            SELECT tx, true, b.id, i.serial_prefix::text, b.first_serial, b.last_serial
            FROM block_movements AS m JOIN credit_blocks AS b ON b.id = m.block_id
            JOIN issuance_batches AS i ON i.id = b.batch_id
            WHERE m.transaction_id = tx ORDER BY b.batch_id, b.first_serial;
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
