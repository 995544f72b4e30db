-- title: Service inventory
-- description: Every service the account has now (deleted ones left out), with its location, size, addresses and status, by region and label.

SELECT label,
       id,
       type,
       region,
       datacenter,
       tier,
       vcpu,
       ram_gb,
       disk_gb,
       ipv4,
       ipv6,
       os,
       status,
       created_at
FROM services
WHERE deleted_at IS NULL
ORDER BY region, label, id, account_id;
