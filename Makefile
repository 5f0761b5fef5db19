# vapi_calls: PGXS build.  The version lives in vapi_calls.control only.

EXTENSION = vapi_calls
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = vapi_calls
OBJS = \
	src/classify.o \
	src/eventlog.o \
	src/guc.o \
	src/ingest.o \
	src/merge.o \
	src/merge_fn.o \
	src/payload.o \
	src/resolve.o \
	src/spi_util.o

DATA = $(wildcard sql/$(EXTENSION)--*.sql)

REGRESS = \
	setup \
	normalize_phone \
	classify_ended_reason \
	ingest_shapes \
	resolution \
	bad_input \
	merge_rule
REGRESS_OPTS = --load-extension=vapi_calls --load-extension=pgcrypto

PG_CPPFLAGS = -Isrc
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# For scripts/test.sh, which runs pg_regress against its own cluster.
print-regress:
	@echo $(REGRESS)
print-isolation:
	@echo $(ISOLATION)
print-regress-opts:
	@echo $(REGRESS_OPTS)
.PHONY: print-regress print-isolation print-regress-opts
