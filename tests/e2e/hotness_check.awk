# Checks `probe hotness --pages` output against what tests/workloads/writer wrote.
# usage: awk -v vpid=V -v base=HEX -v npages=N [-v bpf=0] -f hotness_check.awk written.V PAGES
# Within the writer's buffer: every written page was found (rounds >= 1) and no other
# page has any count. With bpf (default 1), the BPF counts are exact too: a hot page has
# one write fault per round it was written in (rounds == faults); a once/fresh page 1;
# a page the kernel wrote (read(2) into it) 0, since kernel-mode faults are not counted.
function hex(s,   i,c,v) { v=0; s=tolower(s); for(i=1;i<=length(s);i++){c=index("0123456789abcdef",substr(s,i,1))-1; v=v*16+c}; return v }
function key(s) { s=tolower(s); sub(/^0+/, "", s); return s }
BEGIN { B = hex(base); if (bpf == "") bpf = 1 }
FNR==1 { file++ }
file==1 && $1 != "done" { cls[key($2)] = $1; next }
file==2 && $1 == vpid { a=hex($2); if (a >= B && a < B + npages*4096) { k=key($2); r[k]=$3; f[k]=$4; idx[k]=(a-B)/4096 } }
END {
  bad=0; n=0
  for (a in cls) { n++; c=cls[a]
    if (!(a in r) || r[a] < 1) { printf "MISSED %s page %s\n", c, a; bad++; continue }
    if (c=="hot" && (r[a] < 2 || (bpf && r[a] != f[a]))) { printf "hot %s rounds %d faults %d\n", a, r[a], f[a]; bad++ }
    if ((c=="once" || c=="fresh") && (r[a] != 1 || (bpf && f[a] != 1))) { printf "%s %s rounds %d faults %d\n", c, a, r[a], f[a]; bad++ }
    if (c=="kernel" && (r[a] != 1 || f[a] != 0)) { printf "kernel %s rounds %d faults %d\n", a, r[a], f[a]; bad++ }
  }
  for (a in r) if (!(a in cls)) { printf "FALSE POSITIVE page %s (index %d) rounds %d faults %d\n", a, idx[a], r[a], f[a]; bad++ }
  printf "vpid %s: %d written pages checked, %d problems\n", vpid, n, bad
  exit bad > 0
}
