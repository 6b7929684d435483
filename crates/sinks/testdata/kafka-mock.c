/* Harrier's Kafka test broker: a librdkafka mock cluster (rdkafka_mock.h) driven over stdin.
 *
 *   kafka-mock BROKERS PARTITIONS
 *
 * Creates the topic "falco" with PARTITIONS partitions, prints the bootstrap servers on the first
 * line of stdout, then reads one command per line: "down" (every broker drops its connections
 * and refuses new ones), "up" (they accept again); each answered with "ok". EOF ends it.
 * Built by the tests with: gcc -O1 -o kafka-mock kafka-mock.c -lrdkafka  (Debian librdkafka-dev) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

int main(int argc, char **argv) {
    int brokers = argc > 1 ? atoi(argv[1]) : 1;
    int partitions = argc > 2 ? atoi(argv[2]) : 1;
    char err[512], line[128];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) { fprintf(stderr, "rd_kafka_new: %s\n", err); return 1; }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers < 1 ? 1 : brokers);
    if (!mc) { fprintf(stderr, "cannot create the mock cluster\n"); return 1; }
    if (rd_kafka_mock_topic_create(mc, "falco", partitions < 1 ? 1 : partitions, 1)) {
        fprintf(stderr, "cannot create topic falco\n"); return 1;
    }
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    while (fgets(line, sizeof line, stdin)) {
        if (!strncmp(line, "down", 4)) rd_kafka_mock_broker_set_down(mc, -1);
        else if (!strncmp(line, "up", 2)) rd_kafka_mock_broker_set_up(mc, -1);
        printf("ok\n");
        fflush(stdout);
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
