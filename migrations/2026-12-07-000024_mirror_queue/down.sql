DROP TABLE mirror_queue;
