"""an auction may be left with nothing to sell: revoked credits leave its escrow

A revocation (fraud found after issuance) takes its units out of whatever escrow holds them; an
auction's quantity shrinks with them, down to zero when all of them were revoked. Such an
auction clears with nothing sold and every bid's reservation released, and with no journal
transaction (nothing moves, and the ledger refuses a transaction without entries). It is still
created with a positive quantity (the API refuses anything else).

Revision ID: 0009_auction_revocations
Revises: 0008_verifications
Create Date: 2026-12-07 20:45:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0009_auction_revocations'
down_revision = '0008_verifications'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_constraint(op.f('ck_market_auctions_quantity'), 'market_auctions', type_='check')
    op.create_check_constraint(op.f('ck_market_auctions_quantity'), 'market_auctions', 'quantity_g >= 0')
    op.drop_constraint(op.f('ck_market_auctions_cleared'), 'market_auctions', type_='check')
    op.create_check_constraint(op.f('ck_market_auctions_cleared'), 'market_auctions',
                               'clear_transaction_id IS NULL OR cleared_at IS NOT NULL')


def downgrade():
    op.drop_constraint(op.f('ck_market_auctions_quantity'), 'market_auctions', type_='check')
    op.create_check_constraint(op.f('ck_market_auctions_quantity'), 'market_auctions', 'quantity_g > 0')
    op.drop_constraint(op.f('ck_market_auctions_cleared'), 'market_auctions', type_='check')
    op.create_check_constraint(op.f('ck_market_auctions_cleared'), 'market_auctions',
                               '(cleared_at IS NULL) = (clear_transaction_id IS NULL)')
