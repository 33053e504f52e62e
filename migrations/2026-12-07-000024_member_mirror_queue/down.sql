DROP TABLE member_mirror_queue;
