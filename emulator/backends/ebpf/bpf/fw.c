// SPDX-License-Identifier: GPL-2.0
/* The emulator's eBPF firewall (VNF role ebpf-firewall).
 *
 * Rules live in the array map `rules`, first match wins; the emulator writes them and may
 * rewrite them while the program runs (emulator ebpf rules ...). An entry with action 0 ends
 * the list; an IPv4 packet that matches no rule is dropped. Frames that are not IPv4 (ARP,
 * IPv6) pass. `stats` counts packets and bytes passed (key 0) and dropped (key 1).
 * Built twice: for tc (cls_bpf, direct action) and, with -DEMU_XDP, for XDP. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "stats.h"

#define MAX_RULES 64
#define ACT_END 0
#define ACT_ALLOW 1
#define ACT_DENY 2

struct rule {
	__u32 src;      /* network byte order; matches when (saddr & src_mask) == src */
	__u32 src_mask;
	__u32 dst;
	__u32 dst_mask;
	__u16 port_lo;  /* host byte order; destination port range, 0-65535 for any */
	__u16 port_hi;
	__u8 proto;     /* 0: any, else the IP protocol number */
	__u8 action;
	__u8 pad[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_RULES);
	__type(key, __u32);
	__type(value, struct rule);
} rules SEC(".maps");

static __always_inline int verdict(void *data, void *data_end)
{
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return 1;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return 1;
	struct iphdr *iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > data_end)
		return 0;
	__u32 port = 0;
	int has_port = 0;
	if ((iph->protocol == IPPROTO_TCP || iph->protocol == IPPROTO_UDP) &&
	    !(iph->frag_off & bpf_htons(0x1fff))) {
		__u8 *l4 = (__u8 *)iph + iph->ihl * 4;
		if (l4 + 4 > (__u8 *)data_end)
			return 0;
		port = ((__u32)l4[2] << 8) | l4[3];   /* tcp and udp: the destination port at offset 2 */
		has_port = 1;
	}
	for (__u32 i = 0; i < MAX_RULES; i++) {
		__u32 k = i;
		struct rule *r = bpf_map_lookup_elem(&rules, &k);
		if (!r || r->action == ACT_END)
			break;
		if (r->proto && r->proto != iph->protocol)
			continue;
		if ((iph->saddr & r->src_mask) != r->src || (iph->daddr & r->dst_mask) != r->dst)
			continue;
		if (r->port_lo != 0 || r->port_hi != 0xffff) {
			if (!has_port || port < r->port_lo || port > r->port_hi)
				continue;
		}
		return r->action == ACT_ALLOW;
	}
	return 0;
}

#ifdef EMU_XDP
SEC("xdp")
int emu_fw(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	int ok = verdict(data, data_end);
	count(ok ? 0 : 1, data_end - data);
	return ok ? XDP_PASS : XDP_DROP;
}
#else
SEC("tc")
int emu_fw(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	if (data + sizeof(struct ethhdr) + sizeof(struct iphdr) + 4 + 60 > data_end)
		bpf_skb_pull_data(skb, sizeof(struct ethhdr) + 60 + 4);   /* headers in the linear part */
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	int ok = verdict(data, data_end);
	count(ok ? 0 : 1, skb->len);
	return ok ? TC_ACT_OK : TC_ACT_SHOT;
}
#endif

char _license[] SEC("license") = "GPL";
