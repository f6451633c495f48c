# faultline: one plain Makefile.
#   make            build build/faultline (installs missing deps first)
#   make check      every test: unit (plain + ASan/UBSan), fuzz (bounded), e2e with real CRIU
#   make asan       build/asan/faultline and unit tests with AddressSanitizer + UBSan
#   make demo       the README's main job
#   make deps       install Debian packages and the private CRIU prefixes (idempotent)
#   V=1             echo commands

CC      ?= cc
CLANG   ?= clang
BPFTOOL ?= bpftool
BTF_VMLINUX ?= /sys/kernel/btf/vmlinux
CFLAGS  ?= -O2 -g
BUILD   ?= build
SAN     ?=
FUZZ_SECONDS ?= 30

override CFLAGS += -std=gnu11 -Wall -Wextra -Wunused-parameter -Wshadow -Wno-missing-field-initializers \
	-MMD -MP -D_GNU_SOURCE -I. -I$(BUILD)/gen -Icommon
ifneq ($(SAN),)
override CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
override LDFLAGS += -fsanitize=address,undefined
endif

LIBS    := -luring -lssl -lcrypto -lprotobuf-c

# BPF probes (`faultline probe`): bpf/X.bpf.c -> $(BUILD)/gen/bpf/X.bpf.o -> X.skel.h,
# included by the loaders (the other bpf/*.c). Without kernel BTF, bpftool, clang or
# libbpf at build time everything else still builds, with -DFL_NO_BPF: only the
# dispatcher bpf/probe_main.c is compiled, and `faultline probe` says why it cannot run.
BPF_SRCS   := $(wildcard bpf/*.bpf.c)
BPF_SKELS  := $(patsubst bpf/%.bpf.c,$(BUILD)/gen/bpf/%.skel.h,$(BPF_SRCS))
BPF_OK     := $(shell test -r $(BTF_VMLINUX) && command -v $(BPFTOOL) >/dev/null && \
		command -v $(CLANG) >/dev/null && test -r /usr/include/bpf/libbpf.h && echo 1)
ifeq ($(BPF_OK),1)
BPF_MODE   := bpf
LIBS       += -lbpf -lelf -lz
BPF_LOADERS := $(filter-out %.bpf.c,$(wildcard bpf/*.c))
else
BPF_MODE   := no-bpf
override CFLAGS += -DFL_NO_BPF
BPF_LOADERS := bpf/probe_main.c
endif
# bpf/hotness_main.c provides `faultline probe hotness` once it exists.
ifneq ($(filter bpf/hotness_main.c,$(BPF_LOADERS)),)
override CFLAGS += -DFL_HAVE_PROBE_HOTNESS
BPF_MODE   := $(BPF_MODE)+hotness
endif
# Objects that depend on the BPF mode are rebuilt when it changes.
BPF_MODE_FILE := $(BUILD)/gen/bpf.mode
$(shell mkdir -p $(BUILD)/gen && { [ "$$(cat $(BPF_MODE_FILE) 2>/dev/null)" = "$(BPF_MODE)" ] || \
	echo "$(BPF_MODE)" >$(BPF_MODE_FILE); })
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt -lpthread)

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' $(1) $(2)
endif

.DELETE_ON_ERROR:
.SECONDARY:
.SUFFIXES:

DEPS_STAMP := .deps/stamp
PROTOS     := $(wildcard proto/*.proto)
PROTO_C    := $(patsubst proto/%.proto,$(BUILD)/gen/proto/%.pb-c.c,$(PROTOS))
PROTO_H    := $(PROTO_C:.c=.h)
MODULES    := common transport images pageserver uffd bench/policy
LIB_SRCS   := $(foreach m,$(MODULES),$(wildcard $(m)/*.c)) $(filter-out cli/main.c,$(wildcard cli/*.c)) \
	$(BPF_LOADERS)
LIB_OBJS   := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS)) $(PROTO_C:.c=.o)
MAIN_OBJ   := $(BUILD)/obj/cli/main.o
UNIT_SRCS  := $(wildcard tests/unit/*.c)
UNIT_OBJS  := $(patsubst %.c,$(BUILD)/obj/%.o,$(UNIT_SRCS))
WORKLOADS  := $(patsubst tests/workloads/%.c,$(BUILD)/workloads/%,$(wildcard tests/workloads/*.c))
# bench/*.c: one self-contained program each (e.g. build/bench/relay, see docs/netlab.md).
BENCH_PROGS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))
FUZZ_SRCS  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZERS    := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRCS))

all: $(BUILD)/faultline $(WORKLOADS) $(BENCH_PROGS)

$(DEPS_STAMP): scripts/deps.sh scripts/install-criu.sh
	@scripts/deps.sh
	@mkdir -p .deps && touch $@

deps:
	@scripts/deps.sh
	@mkdir -p .deps && touch $(DEPS_STAMP)

$(BUILD)/gen/proto/%.pb-c.c $(BUILD)/gen/proto/%.pb-c.h: proto/%.proto | $(DEPS_STAMP)
	$(call msg,PROTOC,$<)
	@mkdir -p $(BUILD)/gen
	$(Q)protoc-c --c_out=$(BUILD)/gen $<

$(BUILD)/obj/%.o: %.c | $(DEPS_STAMP) $(PROTO_H)
	$(call msg,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c
	$(call msg,CC,$<)
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

# BPF: vmlinux.h from the running kernel's BTF (never committed), objects, skeletons.
$(BUILD)/gen/vmlinux.h: | $(DEPS_STAMP)
	$(call msg,BTF,$@)
	@mkdir -p $(dir $@)
	$(Q)$(BPFTOOL) btf dump file $(BTF_VMLINUX) format c >$@.tmp && mv $@.tmp $@

$(BUILD)/gen/bpf/%.bpf.o: bpf/%.bpf.c $(BUILD)/gen/vmlinux.h $(wildcard bpf/*.h)
	$(call msg,BPF,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_x86 -I$(BUILD)/gen -I. -c $< -o $@

$(BUILD)/gen/bpf/%.skel.h: $(BUILD)/gen/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< >$@.tmp && mv $@.tmp $@

$(patsubst %.c,$(BUILD)/obj/%.o,$(BPF_LOADERS)): $(BPF_MODE_FILE) $(if $(filter bpf%,$(BPF_MODE)),$(BPF_SKELS))

$(BUILD)/libfaultline.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/faultline: $(MAIN_OBJ) $(BUILD)/libfaultline.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/unit_tests: $(UNIT_OBJS) $(BUILD)/libfaultline.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(CHECK_LIBS)

$(BUILD)/workloads/%: tests/workloads/%.c | $(DEPS_STAMP)
	$(call msg,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -static -o $@ $< -lpthread -lm

$(BUILD)/bench/%: bench/%.c | $(DEPS_STAMP)
	$(call msg,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $<

# libFuzzer targets: clang, the whole library rebuilt with the fuzzer instrumentation.
FUZZ_CFLAGS := -g -O1 -std=gnu11 -D_GNU_SOURCE -I. -Ibuild/gen -Icommon -fsanitize=fuzzer-no-link,address,undefined \
	$(filter -DFL_%,$(CFLAGS))
FUZZ_OBJS   := $(patsubst %.c,build/fuzz-obj/%.o,$(LIB_SRCS)) $(patsubst build/gen/%.c,build/fuzz-obj/gen/%.o,$(patsubst $(BUILD)/%,build/%,$(PROTO_C)))
build/fuzz-obj/gen/%.o: build/gen/%.c
	$(call msg,FUZZCC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -c -o $@ $<
build/fuzz-obj/%.o: %.c | $(DEPS_STAMP) $(PROTO_H)
	$(call msg,FUZZCC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -c -o $@ $<
$(patsubst %.c,build/fuzz-obj/%.o,$(BPF_LOADERS)): build/gen/bpf.mode \
	$(if $(filter bpf%,$(BPF_MODE)),$(patsubst $(BUILD)/%,build/%,$(BPF_SKELS)))
build/fuzz/%: tests/fuzz/%.c $(FUZZ_OBJS)
	$(call msg,FUZZLD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS)

unit: $(BUILD)/unit_tests
	$(call msg,TEST,unit)
	$(Q)$(BUILD)/unit_tests

asan:
	$(Q)$(MAKE) --no-print-directory BUILD=build/asan SAN=1 build/asan/faultline build/asan/unit_tests

fuzz: $(FUZZERS)
	$(Q)tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZERS)

lint:
	$(Q)scripts/lint.sh

e2e: all
	$(Q)tests/e2e/run.sh

check: all $(BUILD)/unit_tests
	$(call msg,TEST,unit)
	$(Q)$(BUILD)/unit_tests
	$(Q)$(MAKE) --no-print-directory asan
	$(call msg,TEST,unit-asan)
	$(Q)build/asan/unit_tests
	$(Q)$(MAKE) --no-print-directory fuzz
	$(Q)$(MAKE) --no-print-directory lint
	$(Q)tests/e2e/run.sh

demo: all
	$(Q)scripts/demo.sh

bench-pageserver: all
	$(Q)bench/bench-pageserver.sh

bench-lazy: all
	$(Q)bench/bench-lazy.sh

bench-hotness: all
	$(Q)bench/bench-hotness.sh

# The migration studies (docs/results/migrate-short.md or migrate-full.md, plots in
# docs/results/plots/): `make bench` is the short grid (fits a CI run), `make bench-full`
# the full one.
bench: all
	$(Q)bench/bench-migrate.sh --short

bench-full: all
	$(Q)bench/bench-migrate.sh --full

clean:
	rm -rf build

.PHONY: all deps unit asan fuzz lint e2e check demo bench bench-full bench-pageserver bench-lazy bench-hotness clean

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
