-- A member's gateway address for direct member-to-member calls (địa chỉ cổng của thành
-- viên): where its node serves its services to other members; published in the registry
-- snapshot. NULL: none registered (calls go through the hub, or the caller names the address).
ALTER TABLE exchange_members ADD COLUMN gateway_url TEXT;
