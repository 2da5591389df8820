<?php
$pdo = new PDO(
    sprintf('mysql:host=%s;dbname=%s;charset=utf8mb4', getenv('MYSQL_HOST'), getenv('MYSQL_DATABASE')),
    getenv('MYSQL_USER'),
    getenv('MYSQL_PASSWORD')
);
$count = $pdo->query('SELECT COUNT(*) FROM products')->fetchColumn();
echo "products in stock: " . $count . "\n";
