-- The movement primitive (DOMAIN.md §5). Every movement of credits is one journal transaction
-- made by these functions, in one round trip from the application: claim the idempotency key
-- (invariant 7), lock the accounts in id order (no deadlocks), move the oldest blocks, splitting
-- where a range begins or ends inside one (invariants 3, 4), post entries that sum to zero and
-- the balances (invariants 1, 2, 3), and append the audit record (sealed into the chain later).
-- Refusals raise SQLSTATE 'BZ001' with the refusal's code as the message and its values as a
-- JSON detail; accounting.ledger.movement turns them into domain errors.

CREATE FUNCTION ledger_refuse(p_code text, p_detail jsonb DEFAULT '{}') RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'BZ001', MESSAGE = p_code, DETAIL = p_detail::text;
END $$;

-- One format for a range of serial numbers (accounting/ledger/serials.py writes the same).
CREATE FUNCTION ledger_serials(p_prefix text, p_first bigint, p_last bigint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p_prefix || '-' || lpad(p_first::text, 9, '0') || '-' || lpad(p_last::text, 9, '0')
$$;

-- Claim the key: the new transaction's id, or the first one's (replayed) when this same request
-- was made before; the same key with another request is refused. A twin holding the key makes
-- this wait for its commit (then it replays) or its rollback (then it claims).
CREATE FUNCTION ledger_claim(p_kind text, p_scope text, p_key text, p_request_hash text, p_actor_id integer,
                             p_memo text, p_at timestamptz, OUT transaction_id bigint, OUT replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    first_kind text;
    first_hash text;
BEGIN
    INSERT INTO journal_transactions (kind, idempotency_scope, idempotency_key, request_hash, actor_id, memo, created_at)
    VALUES (p_kind, p_scope, p_key, p_request_hash, p_actor_id, p_memo, p_at)
    ON CONFLICT (idempotency_scope, idempotency_key) DO NOTHING
    RETURNING id INTO transaction_id;
    replayed := transaction_id IS NULL;
    IF replayed THEN
        SELECT t.id, t.kind, t.request_hash INTO transaction_id, first_kind, first_hash
        FROM journal_transactions AS t WHERE t.idempotency_scope = p_scope AND t.idempotency_key = p_key;
        IF first_kind <> p_kind OR first_hash <> p_request_hash THEN
            PERFORM ledger_refuse('idempotency_key_reused');
        END IF;
    END IF;
END $$;

-- Entries of one transaction and the balances they move; the entries sum to zero (invariant 1,
-- also checked when the transaction commits, whoever writes).
CREATE FUNCTION ledger_post(p_transaction bigint, p_accounts bigint[], p_amounts bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT coalesce(sum(amount), 0) FROM unnest(p_amounts) AS amount) <> 0 THEN
        PERFORM ledger_refuse('unbalanced_transaction', jsonb_build_object('transaction', p_transaction));
    END IF;
    INSERT INTO journal_entries (transaction_id, account_id, amount_g)
    SELECT p_transaction, account_id, amount FROM unnest(p_accounts, p_amounts) AS e(account_id, amount)
    WHERE amount <> 0;
    UPDATE accounts AS a SET balance_g = a.balance_g + e.amount
    FROM unnest(p_accounts, p_amounts) AS e(account_id, amount)
    WHERE a.id = e.account_id AND e.amount <> 0;
END $$;

-- A journal transaction's header as its audit record carries it: sealed into the chain, so an edit
-- of the header (which the app's role cannot make, but an owner could) shows in verification.
CREATE FUNCTION ledger_header(p_transaction bigint, p_kind text, p_scope text, p_key text, p_request_hash text,
                              p_memo text, p_at timestamptz) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('transaction', p_transaction, 'kind', p_kind, 'scope', p_scope, 'key', p_key,
                              'request_hash', p_request_hash, 'memo', p_memo, 'at', p_at)
$$;

-- Append a record to the audit log (unsealed: accounting.ledger.audit chains it shortly after).
-- The one way records are appended, so every payload is digested the same way: SHA-256 of its
-- jsonb text, which the verification computes again.
CREATE FUNCTION ledger_audit(p_actor text, p_action text, p_subject text, p_payload jsonb, p_at timestamptz)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO audit_records (actor, action, subject, payload, payload_digest, created_at)
    VALUES (p_actor, p_action, p_subject, p_payload, encode(sha256(convert_to(p_payload::text, 'UTF8')), 'hex'), p_at)
$$;

-- A movement from one account to another: `p_amount` units from the sender's oldest active
-- blocks, or, with p_amount NULL, every unit it holds of batch p_within_batch between serials
-- p_within_first and p_within_last (a revocation). The moved units become `p_status` (active,
-- retired, revoked). A frozen account neither sends nor receives, except where the caller says
-- (credits owed back to a frozen account still return; revocation takes from frozen ones).
-- Returns the ranges moved (or, on a replay, the ranges the first call moved).
CREATE FUNCTION ledger_move(
    p_kind text, p_scope text, p_key text, p_request_hash text, p_actor_id integer, p_memo text,
    p_from bigint, p_to bigint, p_amount bigint,
    p_status text DEFAULT 'active',
    p_within_batch bigint DEFAULT NULL, p_within_first bigint DEFAULT NULL, p_within_last bigint DEFAULT NULL,
    p_sender_may_be_frozen boolean DEFAULT false, p_receiver_may_be_frozen boolean DEFAULT false,
    p_audit_actor text DEFAULT 'system', p_audit_action text DEFAULT NULL, p_audit_subject text DEFAULT NULL,
    p_audit_payload jsonb DEFAULT '{}', p_at timestamptz DEFAULT clock_timestamp())
RETURNS TABLE (transaction_id bigint, replayed boolean, block_id bigint, serial_prefix text,
               first_serial bigint, last_serial bigint)
LANGUAGE plpgsql AS $$
DECLARE
    tx bigint;
    again boolean;
    account record;
    locked integer := 0;
    sender_kind text;
    sender_balance bigint;
    taken bigint := 0;
    block record;
    lo bigint;
    hi bigint;
    part bigint;
    whole bigint[] := '{}';
    -- the ranges moved, as they are returned and written to the audit log
    ids bigint[] := '{}';
    prefixes text[] := '{}';
    firsts bigint[] := '{}';
    lasts bigint[] := '{}';
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

    SELECT c.transaction_id, c.replayed INTO tx, again
    FROM ledger_claim(p_kind, p_scope, p_key, p_request_hash, p_actor_id, p_memo, p_at) AS c;
    IF again THEN
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

    -- The sender's blocks, oldest first (ix_credit_blocks_active_by_account), read only as far
    -- as the amount needs. A block the range begins or ends inside is split: the part moved
    -- and the parts kept become blocks of their own, the original `split` (history).
    FOR block IN
        SELECT b.id, b.batch_id, b.first_serial, b.last_serial, i.serial_prefix::text AS prefix
        FROM credit_blocks AS b JOIN issuance_batches AS i ON i.id = b.batch_id
        WHERE b.account_id = p_from AND b.status = 'active'
          AND (p_within_batch IS NULL OR (b.batch_id = p_within_batch AND b.last_serial >= p_within_first
                                          AND b.first_serial <= p_within_last))
        ORDER BY b.batch_id, b.first_serial
    LOOP
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
            part := block.id;
        ELSE
            -- Marked split before its parts exist: the exclusion constraint never sees an overlap.
            UPDATE credit_blocks SET status = 'split' WHERE id = block.id;
            INSERT INTO credit_blocks (batch_id, first_serial, last_serial, account_id, status, parent_id, created_in)
            SELECT block.batch_id, k.first_serial, k.last_serial, p_from, 'active', block.id, tx
            FROM (VALUES (block.first_serial, lo - 1), (hi + 1, block.last_serial)) AS k(first_serial, last_serial)
            WHERE k.first_serial <= k.last_serial;
            INSERT INTO credit_blocks (batch_id, first_serial, last_serial, account_id, status, parent_id, created_in)
            VALUES (block.batch_id, lo, hi, p_to, p_status, block.id, tx) RETURNING id INTO part;
        END IF;
        ids := ids || part;
        prefixes := prefixes || block.prefix;
        firsts := firsts || lo;
        lasts := lasts || hi;
        taken := taken + (hi - lo + 1);
        EXIT WHEN taken = p_amount;
    END LOOP;
    IF taken = 0 OR (p_amount IS NOT NULL AND taken < p_amount) THEN
        PERFORM ledger_refuse(CASE WHEN p_amount IS NULL THEN 'nothing_to_move' ELSE 'insufficient_balance' END,
                              jsonb_build_object('needed', p_amount, 'short', p_amount - taken));
    END IF;
    IF cardinality(whole) > 0 THEN
        UPDATE credit_blocks SET account_id = p_to, status = p_status WHERE id = ANY(whole);
    END IF;

    INSERT INTO block_movements (transaction_id, block_id, from_account_id, to_account_id)
    SELECT tx, unnest(ids), p_from, p_to;
    PERFORM ledger_post(tx, ARRAY[p_from, p_to], ARRAY[-taken, taken]);
    PERFORM ledger_audit(p_audit_actor, coalesce(p_audit_action, p_kind), coalesce(p_audit_subject, 'transaction:' || tx),
        p_audit_payload || ledger_header(tx, p_kind, p_scope, p_key, p_request_hash, p_memo, p_at) || jsonb_build_object(
            'from', p_from, 'to', p_to, 'amount_g', taken,
            'serials', (SELECT jsonb_agg(ledger_serials(r.prefix, r.first_serial, r.last_serial))
                        FROM unnest(prefixes, firsts, lasts) AS r(prefix, first_serial, last_serial))),
        p_at);
    RETURN QUERY SELECT tx, false, r.id, r.prefix, r.first_serial, r.last_serial
                 FROM unnest(ids, prefixes, firsts, lasts) AS r(id, prefix, first_serial, last_serial);
END $$;

-- 签发: a batch's units come into being, serials 1..quantity laid end to end over its accounts
-- in the order given (invariant 4), debited to the issuance account (the only one that runs
-- negative: its debit is everything ever issued). Returns the transaction, or the first one's
-- on a replay (with nothing written).
CREATE FUNCTION ledger_issue(
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
        RETURNING id, account_id)
    INSERT INTO block_movements (transaction_id, block_id, from_account_id, to_account_id)
    SELECT transaction_id, id, NULL, account_id FROM blocks;
    PERFORM ledger_post(transaction_id, issuance || p_accounts, -total || p_quantities);
    PERFORM ledger_audit(p_audit_actor, 'batch_issued', p_audit_subject,
                         p_audit_payload
                         || ledger_header(transaction_id, 'issue', p_scope, p_key, p_request_hash, p_memo, p_at)
                         || jsonb_build_object('quantity_g', total, 'accounts', cardinality(p_accounts)),
                         p_at);
END $$;
