DROP TABLE items;
DROP TABLE warehouses;
