CREATE TABLE warehouses (
    id SERIAL PRIMARY KEY,
    code TEXT NOT NULL UNIQUE
);

CREATE TABLE items (
    id BIGSERIAL PRIMARY KEY,
    warehouse_id INT NOT NULL REFERENCES warehouses (id),
    sku TEXT NOT NULL,
    quantity INT NOT NULL DEFAULT 0 CHECK (quantity >= 0),
    UNIQUE (warehouse_id, sku)
);
