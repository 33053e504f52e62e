// An independent Kafka client for orgman's tests: Apache Kafka's own Java
// client (the stack's kafka-clients jar), run in source-file mode:
//
//   java -cp <stack classpath> KafkaProbe.java consume <bootstrap> <topic> <count> <timeout-ms>
//     reads <count> records from the beginning of every partition and prints
//     one line each: partition, offset, key, headers, value (tab-separated;
//     key, header values and value in base64; headers as name=value,...)
//   java -cp <stack classpath> KafkaProbe.java partitions <bootstrap> <topic> <partitions> <key>...
//     creates <topic>, sends one record per key with the producer's default
//     partitioner and prints "<key>\t<partition>" as the broker acknowledged it
import java.time.Duration;
import java.util.*;
import java.util.stream.*;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.*;

public class KafkaProbe {
    static String b64(byte[] bytes) {
        return bytes == null ? "-" : Base64.getEncoder().encodeToString(bytes);
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[1], topic = args[2];
        switch (args[0]) {
            case "consume" -> consume(bootstrap, topic, Integer.parseInt(args[3]), Long.parseLong(args[4]));
            case "partitions" -> partitions(bootstrap, topic, Integer.parseInt(args[3]),
                    Arrays.copyOfRange(args, 4, args.length));
            default -> throw new IllegalArgumentException(args[0]);
        }
    }

    static void consume(String bootstrap, String topic, int count, long timeoutMs) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        try (var consumer = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> partitions = consumer.partitionsFor(topic, Duration.ofSeconds(10)).stream()
                    .map(info -> new TopicPartition(topic, info.partition()))
                    .collect(Collectors.toList());
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            int seen = 0;
            long deadline = System.currentTimeMillis() + timeoutMs;
            while (seen < count && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    String headers = StreamSupport.stream(r.headers().spliterator(), false)
                            .map((Header h) -> h.key() + "=" + b64(h.value()))
                            .collect(Collectors.joining(","));
                    System.out.println(r.partition() + "\t" + r.offset() + "\t" + b64(r.key()) + "\t"
                            + headers + "\t" + b64(r.value()));
                    seen++;
                }
            }
        }
    }

    static void partitions(String bootstrap, String topic, int partitions, String[] keys) throws Exception {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin admin = Admin.create(p)) {
            admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get();
        }
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        try (var producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            for (String key : keys) {
                RecordMetadata sent = producer.send(new ProducerRecord<>(topic, key, "probe")).get();
                System.out.println(key + "\t" + sent.partition());
            }
        }
    }
}
