// SPDX-License-Identifier: GPL-2.0
/* The emulator's eBPF forwarder (VNF role ebpf-forwarder), attached at tc ingress of two
 * interfaces of a node. `ports` maps an ingress ifindex to the other interface and the
 * direction's counter (0: first -> second, 1: second -> first).
 * Layer 2 (default): every frame is redirected to the other interface unchanged.
 * Layer 3 (-DEMU_L3): IPv4 packets are routed with bpf_fib_lookup (the node's routes and
 * neighbours), TTL decremented, MACs rewritten; what the FIB cannot forward (packets for the
 * node itself, unresolved neighbours, TTL 1, not IPv4) goes to the kernel's stack. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "stats.h"

#ifndef AF_INET
#define AF_INET 2
#endif

struct port {
	__u32 out_ifindex;
	__u32 dir;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, struct port);
} ports SEC(".maps");

SEC("tc")
int emu_fwd(struct __sk_buff *skb)
{
	__u32 in = skb->ifindex;
	struct port *p = bpf_map_lookup_elem(&ports, &in);
	if (!p)
		return TC_ACT_OK;
	__u32 dir = p->dir & 1;
#ifdef EMU_L3
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	struct iphdr *iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > data_end || iph->ttl <= 1)
		return TC_ACT_OK;
	struct bpf_fib_lookup fib = {};
	fib.family = AF_INET;
	fib.tos = iph->tos;
	fib.l4_protocol = iph->protocol;
	fib.tot_len = 0;              /* the kernel checks the skb (GSO aware) against the MTU */
	fib.ipv4_src = iph->saddr;
	fib.ipv4_dst = iph->daddr;
	fib.ifindex = skb->ingress_ifindex;
	if (bpf_fib_lookup(skb, &fib, sizeof(fib), 0) != BPF_FIB_LKUP_RET_SUCCESS)
		return TC_ACT_OK;
	__u32 check = iph->check;     /* TTL - 1: the checksum by RFC 1624 */
	check += bpf_htons(0x0100);
	iph->check = (__u16)(check + (check >= 0xFFFF));
	iph->ttl--;
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	count(dir, skb->len);
	return bpf_redirect(fib.ifindex, 0);
#else
	count(dir, skb->len);
	return bpf_redirect(p->out_ifindex, 0);
#endif
}

char _license[] SEC("license") = "GPL";
