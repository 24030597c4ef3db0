-- The market (MARKET.md): money beside credits in the one ledger. A journal transaction may now
-- carry money entries (fen) beside its credit entries (grams); each sums to zero (invariants 1
-- and 9), checked when it commits, whoever writes.
CREATE OR REPLACE FUNCTION journal_transaction_balanced() RETURNS trigger AS $$
DECLARE grams bigint; credit_lines integer; fen bigint; money_lines integer;
BEGIN
    SELECT COALESCE(SUM(amount_g), 0), COUNT(*) INTO grams, credit_lines FROM journal_entries WHERE transaction_id = NEW.id;
    SELECT COALESCE(SUM(amount_fen), 0), COUNT(*) INTO fen, money_lines FROM money_entries WHERE transaction_id = NEW.id;
    IF grams <> 0 OR fen <> 0 OR credit_lines + money_lines < 2 THEN
        RAISE EXCEPTION 'journal transaction % is unbalanced (% g over % entries, % fen over % entries)',
            NEW.id, grams, credit_lines, fen, money_lines;
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER money_entries_append_only BEFORE UPDATE OR DELETE ON money_entries
    FOR EACH ROW EXECUTE FUNCTION journal_append_only();

-- The block-moving step of a movement, for a transaction claimed and whose accounts are locked:
-- `p_amount` units from the sender's oldest active blocks (or, NULL, all it holds within a batch's
-- range), splitting where a range begins or ends inside a block; the moved units become
-- `p_status`. Returns the ranges moved. Refuses when the blocks run out.
CREATE FUNCTION ledger_take(
    p_transaction bigint, p_from bigint, p_to bigint, p_amount bigint, p_status text,
    p_within_batch bigint DEFAULT NULL, p_within_first bigint DEFAULT NULL, p_within_last bigint DEFAULT NULL)
RETURNS TABLE (block_id bigint, serial_prefix text, first_serial bigint, last_serial bigint)
LANGUAGE plpgsql AS $$
DECLARE
    taken bigint := 0;
    block record;
    lo bigint;
    hi bigint;
    part bigint;
    whole bigint[] := '{}';
    ids bigint[] := '{}';
    prefixes text[] := '{}';
    firsts bigint[] := '{}';
    lasts bigint[] := '{}';
BEGIN
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
            SELECT block.batch_id, k.first_serial, k.last_serial, p_from, 'active', block.id, p_transaction
            FROM (VALUES (block.first_serial, lo - 1), (hi + 1, block.last_serial)) AS k(first_serial, last_serial)
            WHERE k.first_serial <= k.last_serial;
            INSERT INTO credit_blocks (batch_id, first_serial, last_serial, account_id, status, parent_id, created_in)
            VALUES (block.batch_id, lo, hi, p_to, p_status, block.id, p_transaction) RETURNING id INTO part;
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
    SELECT p_transaction, unnest(ids), p_from, p_to;
    RETURN QUERY SELECT r.id, r.prefix, r.first_serial, r.last_serial
                 FROM unnest(ids, prefixes, firsts, lasts) AS r(id, prefix, first_serial, last_serial);
END $$;

-- One movement between two accounts, as before, now made of the shared steps.
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
LANGUAGE plpgsql AS $$
DECLARE
    tx bigint;
    again boolean;
    account record;
    locked integer := 0;
    sender_kind text;
    sender_balance bigint;
    taken bigint;
    moved record;
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

    FOR moved IN SELECT * FROM ledger_take(tx, p_from, p_to, p_amount, p_status, p_within_batch, p_within_first,
                                           p_within_last)
    LOOP
        ids := ids || moved.block_id;
        prefixes := prefixes || moved.serial_prefix;
        firsts := firsts || moved.first_serial;
        lasts := lasts || moved.last_serial;
    END LOOP;
    SELECT sum(l - f + 1) INTO taken FROM unnest(firsts, lasts) AS r(f, l);
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

-- The legs of an exchange, for a transaction already claimed: several movements of credits and
-- of money in one journal transaction, all or nothing (delivery versus payment). Credit leg i
-- moves p_credit_amount[i] units from p_credit_from[i] to p_credit_to[i], becoming
-- p_credit_status[i]; money leg j moves p_money_amount[j] fen from p_money_from[j] to
-- p_money_to[j]; reservations p_release_amount[k] are first given back on p_release_account[k]
-- (an auction's bids, spent or returned here). Every account is locked in id order; a sender
-- short of free credits or a payer short of free money (money less what open bids reserve; the
-- bank may run negative) is refused and nothing moves. Returns, per credit leg, the ranges moved.
CREATE FUNCTION ledger_settle(
    p_transaction bigint, p_kind text, p_scope text, p_key text, p_request_hash text, p_memo text,
    p_credit_from bigint[], p_credit_to bigint[], p_credit_amount bigint[], p_credit_status text[],
    p_money_from bigint[], p_money_to bigint[], p_money_amount bigint[],
    p_release_account bigint[], p_release_amount bigint[],
    p_audit_actor text, p_audit_subject text, p_audit_payload jsonb, p_at timestamptz)
RETURNS TABLE (leg integer, block_id bigint, serial_prefix text, first_serial bigint, last_serial bigint)
LANGUAGE plpgsql AS $$
DECLARE
    -- The legs are a handful: loops over them here cost less than a statement each would.
    credit_legs integer := coalesce(cardinality(p_credit_from), 0);
    money_legs integer := coalesce(cardinality(p_money_from), 0);
    release_legs integer := coalesce(cardinality(p_release_account), 0);
    moving bigint[] := coalesce(p_credit_from, '{}') || coalesce(p_credit_to, '{}') || coalesce(p_money_from, '{}')
                       || coalesce(p_money_to, '{}');
    account record;
    locked integer := 0;
    out_g bigint;
    out_fen bigint;
    released bigint;
    credit_accounts bigint[] := '{}';
    credit_deltas bigint[] := '{}';
    money_accounts bigint[] := '{}';
    money_deltas bigint[] := '{}';
    delta bigint;
    i integer;
BEGIN
    FOR i IN 1 .. credit_legs LOOP
        IF p_credit_amount[i] IS NULL OR p_credit_amount[i] <= 0 OR p_credit_from[i] = p_credit_to[i] THEN
            PERFORM ledger_refuse('invalid_amount');
        END IF;
    END LOOP;
    FOR i IN 1 .. money_legs LOOP
        IF p_money_amount[i] IS NULL OR p_money_amount[i] <= 0 OR p_money_from[i] = p_money_to[i] THEN
            PERFORM ledger_refuse('invalid_amount');
        END IF;
    END LOOP;

    -- Locked as they leave the sort: the one global order, so exchanges never deadlock. Each
    -- account's part is checked as it is locked: not frozen (if it moves anything), credits and
    -- free money (money less what open bids still reserve after this release) enough for what
    -- it sends; the bank may run negative, the issuance account too.
    FOR account IN SELECT a.id, a.kind, a.balance_g, a.money_fen, a.reserved_fen, a.frozen_at FROM accounts AS a
                   WHERE a.id = ANY(moving || coalesce(p_release_account, '{}')) ORDER BY a.id FOR UPDATE
    LOOP
        locked := locked + 1;
        IF account.frozen_at IS NOT NULL AND account.id = ANY(moving) THEN
            PERFORM ledger_refuse('account_frozen');
        END IF;
        out_g := 0;
        delta := 0;
        FOR i IN 1 .. credit_legs LOOP
            IF p_credit_from[i] = account.id THEN
                out_g := out_g + p_credit_amount[i];
                delta := delta - p_credit_amount[i];
            END IF;
            IF p_credit_to[i] = account.id THEN
                delta := delta + p_credit_amount[i];
            END IF;
        END LOOP;
        IF account.kind <> 'issuance' AND account.balance_g < out_g THEN
            PERFORM ledger_refuse('insufficient_balance', jsonb_build_object('balance_g', account.balance_g,
                                                                             'needed', out_g));
        END IF;
        IF delta <> 0 THEN
            credit_accounts := credit_accounts || account.id;
            credit_deltas := credit_deltas || delta;
        END IF;
        out_fen := 0;
        delta := 0;
        FOR i IN 1 .. money_legs LOOP
            IF p_money_from[i] = account.id THEN
                out_fen := out_fen + p_money_amount[i];
                delta := delta - p_money_amount[i];
            END IF;
            IF p_money_to[i] = account.id THEN
                delta := delta + p_money_amount[i];
            END IF;
        END LOOP;
        released := 0;
        FOR i IN 1 .. release_legs LOOP
            IF p_release_account[i] = account.id THEN
                released := released + p_release_amount[i];
            END IF;
        END LOOP;
        IF account.kind <> 'bank' AND account.money_fen - (account.reserved_fen - released) < out_fen THEN
            PERFORM ledger_refuse('insufficient_funds', jsonb_build_object(
                'money_fen', account.money_fen - (account.reserved_fen - released), 'needed', out_fen));
        END IF;
        IF delta <> 0 OR released <> 0 THEN
            money_accounts := money_accounts || account.id;
            money_deltas := money_deltas || delta;
            IF released <> 0 THEN
                UPDATE accounts SET reserved_fen = reserved_fen - released WHERE id = account.id;
            END IF;
        END IF;
    END LOOP;
    IF locked < (SELECT count(DISTINCT id) FROM unnest(moving || coalesce(p_release_account, '{}')) AS id) THEN
        PERFORM ledger_refuse('account_not_found');
    END IF;

    FOR i IN 1 .. credit_legs LOOP
        RETURN QUERY SELECT i, t.block_id, t.serial_prefix, t.first_serial, t.last_serial
                     FROM ledger_take(p_transaction, p_credit_from[i], p_credit_to[i], p_credit_amount[i],
                                      coalesce(p_credit_status[i], 'active')) AS t;
    END LOOP;
    IF cardinality(credit_accounts) > 0 THEN
        PERFORM ledger_post(p_transaction, credit_accounts, credit_deltas);
    END IF;
    IF money_legs > 0 THEN
        INSERT INTO money_entries (transaction_id, account_id, amount_fen)
        SELECT p_transaction, m.account_id, m.amount FROM unnest(money_accounts, money_deltas) AS m(account_id, amount)
        WHERE m.amount <> 0;
        UPDATE accounts AS a SET money_fen = a.money_fen + m.amount
        FROM unnest(money_accounts, money_deltas) AS m(account_id, amount)
        WHERE a.id = m.account_id AND m.amount <> 0;
    END IF;
    PERFORM ledger_audit(p_audit_actor, p_kind, coalesce(p_audit_subject, 'transaction:' || p_transaction),
        coalesce(p_audit_payload, '{}') || ledger_header(p_transaction, p_kind, p_scope, p_key, p_request_hash, p_memo, p_at)
        || jsonb_build_object('credits', jsonb_build_object('from', p_credit_from, 'to', p_credit_to,
                                                            'amount_g', p_credit_amount),
                              'money', jsonb_build_object('from', p_money_from, 'to', p_money_to,
                                                          'amount_fen', p_money_amount),
                              'released', jsonb_build_object('account', p_release_account,
                                                             'amount_fen', p_release_amount)),
        p_at);
END $$;

-- An exchange in one call: claim the key, then settle the legs. A replay answers one row with the
-- first transaction's id and replayed = true.
CREATE FUNCTION ledger_exchange(
    p_kind text, p_scope text, p_key text, p_request_hash text, p_actor_id integer, p_memo text,
    p_credit_from bigint[], p_credit_to bigint[], p_credit_amount bigint[], p_credit_status text[],
    p_money_from bigint[], p_money_to bigint[], p_money_amount bigint[],
    p_release_account bigint[], p_release_amount bigint[],
    p_audit_actor text, p_audit_subject text, p_audit_payload jsonb, p_at timestamptz DEFAULT clock_timestamp())
RETURNS TABLE (transaction_id bigint, replayed boolean, leg integer, block_id bigint, serial_prefix text,
               first_serial bigint, last_serial bigint)
LANGUAGE plpgsql AS $$
DECLARE
    tx bigint;
    again boolean;
BEGIN
    SELECT c.transaction_id, c.replayed INTO tx, again
    FROM ledger_claim(p_kind, p_scope, p_key, p_request_hash, p_actor_id, p_memo, p_at) AS c;
    IF again THEN
        RETURN QUERY SELECT tx, true, NULL::integer, NULL::bigint, NULL::text, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;
    RETURN QUERY SELECT tx, false, s.leg, s.block_id, s.serial_prefix, s.first_serial, s.last_serial
                 FROM ledger_settle(tx, p_kind, p_scope, p_key, p_request_hash, p_memo, p_credit_from, p_credit_to,
                                    p_credit_amount, p_credit_status, p_money_from, p_money_to, p_money_amount,
                                    p_release_account, p_release_amount, p_audit_actor, p_audit_subject,
                                    p_audit_payload, p_at) AS s;
    IF NOT FOUND THEN  -- money only: no credit leg to report, still the transaction's id
        RETURN QUERY SELECT tx, false, NULL::integer, NULL::bigint, NULL::text, NULL::bigint, NULL::bigint;
    END IF;
    -- A transaction that moved nothing at all (no legs) is refused when it commits (unbalanced).
END $$;

-- An order (MARKET.md), in one call and one transaction: claim its key; walk the open listings at
-- or below its price, cheapest then oldest, locking each as it is reached (so orders lock
-- listings in one global order and only as many as they fill from); take from each at least its
-- min lot or its whole remainder; price every fill (ceil(q × p / 10^6) fen, the fee floor(cost ×
-- bp / 10^4)) and settle credits and money together. Nothing fills, or not all for all_or_none:
-- refused `no_fill`; the buyer's free money short of the whole: refused `insufficient_funds`.
-- Listings whose seller is frozen, expired ones and the buyer's own are passed over.
-- Returns the order's id (on a replay, the first order's).
CREATE FUNCTION market_order(
    p_scope text, p_key text, p_request_hash text, p_actor_id integer,
    p_buyer bigint, p_quantity bigint, p_max_price bigint, p_listing bigint, p_all_or_none boolean,
    p_retire_to bigint, p_fees bigint, p_fee_bp integer, p_audit_actor text, p_at timestamptz DEFAULT clock_timestamp())
RETURNS TABLE (order_id bigint, replayed boolean, transaction_id bigint, filled_g bigint, cost_fen bigint,
               fee_fen bigint)
LANGUAGE plpgsql AS $$
DECLARE
    tx bigint;
    again boolean;
    named record;
    candidates refcursor;
    listing record;
    filled bigint := 0;
    q bigint;
    cost bigint;
    fee bigint;
    listings bigint[] := '{}';
    escrows bigint[] := '{}';
    sellers bigint[] := '{}';
    quantities bigint[] := '{}';
    prices bigint[] := '{}';
    costs bigint[] := '{}';
    fees bigint[] := '{}';
    total_cost bigint := 0;
    total_fee bigint := 0;
    fee_leg boolean;
    new_order bigint;
BEGIN
    IF p_quantity IS NULL OR p_quantity <= 0 OR p_max_price IS NULL OR p_max_price <= 0 THEN
        PERFORM ledger_refuse('invalid_amount');
    END IF;
    IF p_listing IS NOT NULL THEN
        SELECT l.seller_account_id INTO named FROM market_listings AS l WHERE l.id = p_listing;
        IF NOT FOUND THEN
            PERFORM ledger_refuse('listing_not_found', jsonb_build_object('listing_id', p_listing));
        ELSIF named.seller_account_id = p_buyer THEN
            PERFORM ledger_refuse('self_trade', jsonb_build_object('listing_id', p_listing));
        END IF;
    END IF;

    SELECT c.transaction_id, c.replayed INTO tx, again
    FROM ledger_claim('trade', p_scope, p_key, p_request_hash, p_actor_id, NULL, p_at) AS c;
    IF again THEN
        RETURN QUERY SELECT o.id, true, o.transaction_id, o.filled_g, o.cost_fen, o.fee_fen
                     FROM market_orders AS o WHERE o.transaction_id = tx;
        RETURN;
    END IF;

    -- The named listing (its primary key), or the book in price-then-time order (its partial index),
    -- each row locked as the loop reaches it.
    IF p_listing IS NOT NULL THEN
        OPEN candidates FOR
            SELECT l.id, l.escrow_account_id, l.seller_account_id, l.remaining_g, l.price_fen_per_t, l.min_lot_g
            FROM market_listings AS l JOIN accounts AS s ON s.id = l.seller_account_id
            WHERE l.id = p_listing AND l.status = 'open' AND l.price_fen_per_t <= p_max_price
              AND (l.expires_at IS NULL OR l.expires_at > p_at) AND s.frozen_at IS NULL
            FOR UPDATE OF l;
    ELSE
        OPEN candidates FOR
            SELECT l.id, l.escrow_account_id, l.seller_account_id, l.remaining_g, l.price_fen_per_t, l.min_lot_g
            FROM market_listings AS l JOIN accounts AS s ON s.id = l.seller_account_id
            WHERE l.status = 'open' AND l.price_fen_per_t <= p_max_price
              AND (l.expires_at IS NULL OR l.expires_at > p_at)
              AND l.seller_account_id <> p_buyer AND s.frozen_at IS NULL
            ORDER BY l.price_fen_per_t, l.id
            FOR UPDATE OF l;
    END IF;
    LOOP
        FETCH candidates INTO listing;
        EXIT WHEN NOT FOUND;
        q := least(p_quantity - filled, listing.remaining_g);
        CONTINUE WHEN q < listing.min_lot_g AND q < listing.remaining_g;
        cost := ceil(q::numeric * listing.price_fen_per_t / 1000000)::bigint;
        fee := floor(cost::numeric * p_fee_bp / 10000)::bigint;
        listings := listings || listing.id;
        escrows := escrows || listing.escrow_account_id;
        sellers := sellers || listing.seller_account_id;
        quantities := quantities || q;
        prices := prices || listing.price_fen_per_t;
        costs := costs || cost;
        fees := fees || fee;
        filled := filled + q;
        total_cost := total_cost + cost;
        total_fee := total_fee + fee;
        EXIT WHEN filled = p_quantity;
    END LOOP;
    CLOSE candidates;
    IF filled = 0 OR (p_all_or_none AND filled < p_quantity) THEN
        PERFORM ledger_refuse('no_fill', jsonb_build_object('fillable_g', filled, 'quantity_g', p_quantity));
    END IF;

    fee_leg := total_fee > 0;
    PERFORM 1 FROM ledger_settle(
        tx, 'trade', p_scope, p_key, p_request_hash, NULL,
        escrows, array_fill(coalesce(p_retire_to, p_buyer), ARRAY[cardinality(escrows)]), quantities,
        array_fill(CASE WHEN p_retire_to IS NULL THEN 'active' ELSE 'retired' END, ARRAY[cardinality(escrows)]),
        array_fill(p_buyer, ARRAY[cardinality(sellers) + fee_leg::integer]),
        sellers || CASE WHEN fee_leg THEN ARRAY[p_fees] ELSE '{}' END,
        costs || CASE WHEN fee_leg THEN ARRAY[total_fee] ELSE '{}' END,
        NULL, NULL, p_audit_actor, NULL,
        jsonb_build_object('buyer', p_buyer, 'listings', listings, 'filled_g', filled,
                           'cost_fen', total_cost, 'fee_fen', total_fee, 'retired', p_retire_to IS NOT NULL),
        p_at);

    UPDATE market_listings AS l
    SET remaining_g = l.remaining_g - f.q,
        status = CASE WHEN l.remaining_g = f.q THEN 'filled' ELSE l.status END,
        closed_at = CASE WHEN l.remaining_g = f.q THEN p_at ELSE l.closed_at END
    FROM unnest(listings, quantities) AS f(id, q) WHERE l.id = f.id;
    INSERT INTO market_orders (buyer_account_id, quantity_g, max_price_fen_per_t, listing_id, all_or_none, filled_g,
                               cost_fen, fee_fen, retired, transaction_id, created_by, created_at)
    VALUES (p_buyer, p_quantity, p_max_price, p_listing, p_all_or_none, filled, total_cost, total_fee,
            p_retire_to IS NOT NULL, tx, p_actor_id, p_at)
    RETURNING id INTO new_order;
    INSERT INTO market_fills (order_id, listing_id, quantity_g, price_fen_per_t, amount_fen, fee_fen, created_at)
    SELECT new_order, f.listing, f.q, f.price, f.cost, f.fee, p_at
    FROM unnest(listings, quantities, prices, costs, fees) AS f(listing, q, price, cost, fee);
    RETURN QUERY SELECT new_order, false, tx, filled, total_cost, total_fee;
END $$;
