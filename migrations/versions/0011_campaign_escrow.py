"""each campaign's own escrow, in shards; a coupon remembers which escrow holds its price

A claim used to lock its merchant's one escrow account row from the movement to the commit: a
flash sale (秒杀) queued every claim on it, and claims on a merchant's other campaigns queued
behind them. Now each campaign has `campaign_escrows`: ESCROW_SHARDS escrow accounts of its own,
a claim paying into the one its resident's account falls on, so claims on one campaign meet only
on the campaign row (its stock, taken by the claim's last statement) and claims on different
campaigns never meet. A coupon keeps the escrow its price went to (`coupons.escrow_account_id`):
redemption and release take from there. Coupons claimed before this migration (and claims on
campaigns made before it, which have no shards) keep using their merchant's escrow.

Revision ID: 0011_campaign_escrow
Revises: 0010_events_partitioned
Create Date: 2026-12-08 21:00:00

"""
import sqlalchemy as sa
from alembic import op
from flask import current_app

# revision identifiers, used by Alembic.
revision = '0011_campaign_escrow'
down_revision = '0010_events_partitioned'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('campaign_escrows',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('shard', sa.SmallInteger(), nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('shard >= 0', name=op.f('ck_campaign_escrows_shard')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_campaign_escrows_account_id_accounts')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_escrows_campaign_id_campaigns')),
    sa.PrimaryKeyConstraint('campaign_id', 'shard', name=op.f('pk_campaign_escrows')),
    sa.UniqueConstraint('account_id', name=op.f('uq_campaign_escrows_account_id'))
    )
    op.add_column('coupons', sa.Column('escrow_account_id', sa.BigInteger(), nullable=True))
    op.execute("UPDATE coupons AS c SET escrow_account_id = m.escrow_account_id "
               "FROM campaigns AS p JOIN merchants AS m ON m.id = p.merchant_id WHERE p.id = c.campaign_id")
    op.alter_column('coupons', 'escrow_account_id', nullable=False)
    op.create_foreign_key(op.f('fk_coupons_escrow_account_id_accounts'), 'coupons', 'accounts',
                          ['escrow_account_id'], ['id'])
    # A shard is written once, with its campaign, and never changed: the app role may only add them.
    role = current_app.config.get("APP_DB_ROLE", "binzhou_app")
    if op.get_bind().scalar(sa.text("SELECT count(*) FROM pg_roles WHERE rolname = :role"), {"role": role}):
        op.execute(f"REVOKE UPDATE, DELETE ON campaign_escrows FROM {role}")


def downgrade():
    op.drop_constraint(op.f('fk_coupons_escrow_account_id_accounts'), 'coupons', type_='foreignkey')
    op.drop_column('coupons', 'escrow_account_id')
    op.drop_table('campaign_escrows')
