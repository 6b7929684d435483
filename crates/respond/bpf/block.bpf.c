// SPDX-License-Identifier: GPL-2.0
// node:block_network: attached to one container's cgroup (v2), these programs refuse every
// outbound connect() and sendmsg() (TCP and UDP, IPv4 and IPv6) except to loopback, so the
// container is cut off while the host and other containers keep their network. Refusals are
// counted per cgroup id in `refused` (pinned, shared by every block). The verdict is the
// kernel's: 0 refuses (EPERM), 1 allows. One loaded copy of the programs is attached to each
// blocked cgroup.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, __u64);
    __type(value, __u64);
} refused SEC(".maps");

static __always_inline int refuse(void)
{
    __u64 id = bpf_get_current_cgroup_id();
    __u64 *n = bpf_map_lookup_elem(&refused, &id);
    if (n) {
        __sync_fetch_and_add(n, 1);
    } else {
        __u64 one = 1;
        bpf_map_update_elem(&refused, &id, &one, BPF_NOEXIST);
    }
    return 0;
}

static __always_inline int verdict4(struct bpf_sock_addr *ctx)
{
    __u32 ip = bpf_ntohl(ctx->user_ip4);
    if ((ip >> 24) == 127)
        return 1;
    return refuse();
}

static __always_inline int verdict6(struct bpf_sock_addr *ctx)
{
    __u32 a = ctx->user_ip6[0], b = ctx->user_ip6[1], c = ctx->user_ip6[2], d = ctx->user_ip6[3];
    // ::1
    if (a == 0 && b == 0 && c == 0 && d == bpf_htonl(1))
        return 1;
    // ::ffff:127.x.y.z
    if (a == 0 && b == 0 && c == bpf_htonl(0xffff) && (bpf_ntohl(d) >> 24) == 127)
        return 1;
    return refuse();
}

SEC("cgroup/connect4")
int block_connect4(struct bpf_sock_addr *ctx) { return verdict4(ctx); }

SEC("cgroup/sendmsg4")
int block_sendmsg4(struct bpf_sock_addr *ctx) { return verdict4(ctx); }

SEC("cgroup/connect6")
int block_connect6(struct bpf_sock_addr *ctx) { return verdict6(ctx); }

SEC("cgroup/sendmsg6")
int block_sendmsg6(struct bpf_sock_addr *ctx) { return verdict6(ctx); }

char LICENSE[] SEC("license") = "GPL";
