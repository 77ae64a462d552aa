-- A disk whose creation failed holds no data and keeps no layer: its layer row and file go
-- with the failure at once, so `top_layer_id` may be NULL.
ALTER TABLE disks ALTER COLUMN top_layer_id DROP NOT NULL;
