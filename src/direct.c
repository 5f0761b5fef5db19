/*-------------------------------------------------------------------------
 *
 * direct.c
 *	  Direct table access for the two writes of an event: the merge of the
 *	  call row in vapi.calls and the insert of the delivery in vapi.events,
 *	  as PostgreSQL's logical-replication apply worker writes
 *	  (execReplication.c), with no SQL statement on the way.
 *
 * The call row is found through the unique index on vapi_call_id with a
 * fresh MVCC snapshot, merged in memory by the merge rule (merge_fn.c's
 * vapi_field_wins, the rule the SQL upsert's vapi.merge_* functions apply)
 * and written only when the merge changes something.  Concurrency is
 * optimistic, as the executor's own UPDATE: the row is replaced only if the
 * version read is still the latest (table_tuple_update waits for a
 * concurrent writer and reports whether it changed the row), and otherwise
 * read and merged again.  The merge is monotonic (a version only grows, the
 * status rank only grows, first and last times are a min and a max), so an
 * event that changes nothing in the latest committed version changes
 * nothing in any later one either: it takes no lock and writes nothing.  A
 * call without a row is inserted with the speculative insertion protocol
 * of INSERT ... ON CONFLICT, so that a concurrent first insert of the same
 * call makes us read and merge again rather than raise a unique violation.
 * The caller name is derived (resolve.c) from the very version the update
 * replaces, so it is always a contact of the row's final org.
 *
 * Constraints (NOT NULL, CHECK), domains, column defaults, identity,
 * indexes, statistics and logical decoding are kept as an INSERT or UPDATE
 * keeps them.  Where direct access would bypass something the SQL path
 * does, the SQL path runs instead (merge.c, eventlog.c): a trigger or rule
 * on the table (a user's, or Citus's on a distributed table), stored
 * generated columns, row-level security that applies to the current user,
 * missing privileges (the SQL path then raises the usual error), a
 * read-only transaction, an isolation level above READ COMMITTED (whose
 * serialization checks the SQL path makes), a column whose type is not the
 * one the merge writes, or vapi.direct_access off.  What a table allows is
 * worked out once and kept until the table's relcache invalidation.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_relation.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteHandler.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "vapi_calls.h"

bool		vapi_direct_access = true;

/* The columns of vapi.calls the merge reads or writes. */
enum
{
	C_CALL_ID,
	C_ID,
	C_IS_TEST,
	C_RANK,
	C_STATUS,
	C_VERSIONS,
	C_FIRST,
	C_LAST,
	C_CREATED,
	C_UPDATED,
	C_APPLIED,
	C_CHANGE_SEQ,
	C_FIELD0,					/* then the VF_NUM_FIELDS merged fields */
	C_NUM = C_FIELD0 + VF_NUM_FIELDS
};

/* The columns of vapi.events an event's insert sets. */
enum
{
	E_RECEIVED,
	E_CALL_ID,
	E_TYPE,
	E_STATUS,
	E_EVENT_AT,
	E_PAYLOAD,
	E_OUTCOME,
	E_DETAIL,
	E_ID,
	E_NUM
};

/* A column the writes know: its name, type, and whether an insert takes its default. */
typedef struct DirectColumn
{
	const char *name;
	Oid			type;			/* the base type the value has */
	bool		default_on_insert;
} DirectColumn;

/* What direct access knows about one table, kept until its relcache invalidation. */
typedef struct DirectTable
{
	const char *relname;
	const DirectColumn *columns;
	int			ncolumns;
	bool		keyed;			/* find rows by the unique index on column 0 */

	bool		valid;			/* the rest is up to date */
	Oid			relid;
	bool		usable;			/* direct access keeps every guarantee */
	AttrNumber	att[C_NUM];		/* of each known column */
	Oid			keyidx;			/* keyed: the unique index on column 0 */
	RegProcedure keyproc;		/* its equality function */
	Oid			keycoll;		/* and collation */
	int			natts;
	Expr	  **defaults;		/* per attribute: the planned default, or NULL */
	bool	   *take_default;	/* per attribute: an insert evaluates defaults[] */
	Oid		   *domain;			/* per attribute: its domain, or InvalidOid */
	void	  **domain_extra;	/* per attribute: domain_check's cache */
	Oid		   *collation;		/* per attribute */
	MemoryContext cxt;			/* of what the arrays point to */
} DirectTable;

static DirectColumn calls_columns[C_NUM] = {
	[C_CALL_ID] = {"vapi_call_id", TEXTOID},
	[C_ID] = {"id", UUIDOID, true},
	[C_IS_TEST] = {"is_test_call", BOOLOID},
	[C_RANK] = {"status_rank", INT2OID},
	[C_STATUS] = {"status", TEXTOID},
	[C_VERSIONS] = {"field_versions", INT8ARRAYOID},
	[C_FIRST] = {"first_event_at", TIMESTAMPTZOID},
	[C_LAST] = {"last_event_at", TIMESTAMPTZOID},
	[C_CREATED] = {"created_at", TIMESTAMPTZOID},
	[C_UPDATED] = {"updated_at", TIMESTAMPTZOID},
	[C_APPLIED] = {"events_applied", INT4OID, true},
	[C_CHANGE_SEQ] = {"last_change_seq", INT4OID, true},
	/* C_FIELD0 + f: filled from vapi_fields[] */
};

static const DirectColumn events_columns[E_NUM] = {
	[E_RECEIVED] = {"received_at", TIMESTAMPTZOID},
	[E_CALL_ID] = {"vapi_call_id", TEXTOID},
	[E_TYPE] = {"type", TEXTOID},
	[E_STATUS] = {"status", TEXTOID},
	[E_EVENT_AT] = {"event_at", TIMESTAMPTZOID},
	[E_PAYLOAD] = {"payload", JSONBOID},
	[E_OUTCOME] = {"outcome", TEXTOID},
	[E_DETAIL] = {"detail", TEXTOID},
	[E_ID] = {"id", INT8OID, true},
};

static DirectTable calls_table = {"calls", calls_columns, C_NUM, true};
static DirectTable events_table = {"events", events_columns, E_NUM, false};

/* An open table with what the executor's write functions need. */
typedef struct DirectSession
{
	DirectTable *t;
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	Relation	keyrel;			/* keyed: the open key index */
	bool		indexes_open;	/* rri's indexes, opened before the first write */
	TupleTableSlot *slot;		/* the table's own: a row read */
	TupleTableSlot *newslot;	/* virtual: the row to write */
	ExprState **defaults;		/* per attribute: its default, compiled; NULL until used */
} DirectSession;

/* The event log open for direct inserts (vapi_event_log_open). */
struct VapiEventLog
{
	bool		direct;			/* false: the SQL path writes */
	DirectSession s;
};

/* A call row as the merge sees it, in the table's attribute order. */
typedef struct CallImage
{
	bool		exists;			/* a stored row, or one an earlier event of the group made */
	bool		stored;			/* it is in the table (update rather than insert) */
	bool		dirty;			/* it differs from what the table has */
	ItemPointerData tid;		/* stored: the version read */
	Datum	   *values;
	bool	   *isnull;
	int64		fv[VF_NUM_FIELDS];	/* field versions; 0 where absent */
	bool		has_fv[VF_NUM_FIELDS];	/* the stored array has the element */
} CallImage;

/* Forget what we know of a table when its relcache entry is invalidated. */
static void
invalidate_tables(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == calls_table.relid)
		calls_table.valid = false;
	if (relid == InvalidOid || relid == events_table.relid)
		events_table.valid = false;
}

/* The relation's unique, plain, unconditional single-column index on attribute att. */
static Oid
find_key_index(Relation rel, AttrNumber att)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			found = InvalidOid;

	foreach(lc, indexes)
	{
		Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index form = idx->rd_index;

		if (form->indisunique && form->indimmediate && form->indisvalid &&
			form->indnkeyatts == 1 && form->indkey.values[0] == att &&
			RelationGetIndexExpressions(idx) == NIL &&
			RelationGetIndexPredicate(idx) == NIL &&
			idx->rd_rel->relam == BTREE_AM_OID)
			found = RelationGetRelid(idx);
		index_close(idx, AccessShareLock);
		if (OidIsValid(found))
			break;
	}
	list_free(indexes);
	return found;
}

/*
 * Work out what direct access may do with the table (rel, opened by the
 * caller): whether it keeps every guarantee the SQL path keeps, the
 * columns, key index, defaults and domains.
 */
static void
classify(DirectTable *t, Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	MemoryContext oldcxt;
	bool		usable;

	if (t->cxt == NULL)
		t->cxt = AllocSetContextCreate(CacheMemoryContext, "vapi_calls direct access",
									   ALLOCSET_SMALL_SIZES);
	MemoryContextReset(t->cxt);
	oldcxt = MemoryContextSwitchTo(t->cxt);

	if (t == &calls_table)
		for (int f = 0; f < VF_NUM_FIELDS; f++)
			calls_columns[C_FIELD0 + f] = (DirectColumn) {vapi_fields[f].column,
			vapi_fields[f].type, false};
	t->relid = RelationGetRelid(rel);
	t->natts = desc->natts;
	t->defaults = palloc0(sizeof(Expr *) * desc->natts);
	t->take_default = palloc0(sizeof(bool) * desc->natts);
	t->domain = palloc0(sizeof(Oid) * desc->natts);
	t->domain_extra = palloc0(sizeof(void *) * desc->natts);
	t->collation = palloc0(sizeof(Oid) * desc->natts);

	usable = rel->rd_rel->relkind == RELKIND_RELATION &&
		rel->rd_rel->relam == HEAP_TABLE_AM_OID &&
		!rel->rd_rel->relispartition &&
		!rel->rd_rel->relhasrules &&
		rel->trigdesc == NULL &&
		!(desc->constr && desc->constr->has_generated_stored) &&
		!OidIsValid(get_extension_oid("citus", true));

	/* every attribute takes its default on insert unless the writes set it */
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);

		if (a->attisdropped)
			continue;
		t->take_default[i] = true;
		t->collation[i] = a->attcollation;
		if (get_typtype(a->atttypid) == TYPTYPE_DOMAIN)
			t->domain[i] = a->atttypid;
	}
	for (int c = 0; c < t->ncolumns && usable; c++)
	{
		AttrNumber	att = attnameAttNum(rel, t->columns[c].name, false);

		if (att <= 0 ||
			getBaseType(TupleDescAttr(desc, att - 1)->atttypid) != t->columns[c].type)
		{
			usable = false;
			break;
		}
		t->att[c] = att;
		t->take_default[att - 1] = t->columns[c].default_on_insert;
	}
	for (int i = 0; i < desc->natts && usable; i++)
	{
		Node	   *def;

		if (!t->take_default[i])
			continue;
		def = build_column_default(rel, i + 1);
		if (def != NULL)
			t->defaults[i] = expression_planner((Expr *) def);
	}
	if (usable && t->keyed)
	{
		Relation	idx;

		t->keyidx = find_key_index(rel, t->att[0]);
		usable = OidIsValid(t->keyidx);
		if (usable)
		{
			idx = index_open(t->keyidx, AccessShareLock);
			t->keyproc = get_opcode(get_opfamily_member(idx->rd_opfamily[0],
														idx->rd_opcintype[0],
														idx->rd_opcintype[0],
														BTEqualStrategyNumber));
			t->keycoll = idx->rd_indcollation[0];
			index_close(idx, AccessShareLock);
			usable = RegProcedureIsValid(t->keyproc);
		}
	}
	MemoryContextSwitchTo(oldcxt);
	t->usable = usable;
	t->valid = true;
}

/*
 * Open table t for writing directly, or return false when the SQL path must
 * run instead (see the file header).  update: rows are also read and
 * replaced, not only inserted.
 */
static bool
session_open(DirectTable *t, bool update, DirectSession *s)
{
	static bool registered = false;
	/* SELECT too: the event insert returns the new id, as RETURNING id would */
	AclMode		need = ACL_INSERT | ACL_SELECT | (update ? ACL_UPDATE : 0);
	Oid			nsp;
	Oid			relid;
	RangeTblEntry *rte;

	if (!vapi_direct_access || XactReadOnly || IsInParallelMode() ||
		(update && IsolationUsesXactSnapshot()))
		return false;
	if (!registered)
	{
		CacheRegisterRelcacheCallback(invalidate_tables, (Datum) 0);
		registered = true;
	}
	if (t->valid && !t->usable)
		return false;			/* known not to be possible (Citus, a trigger, ...) */
	if (t->valid)
		relid = t->relid;
	else
	{
		nsp = get_namespace_oid("vapi", true);
		relid = OidIsValid(nsp) ? get_relname_relid(t->relname, nsp) : InvalidOid;
		if (!OidIsValid(relid))
			return false;
	}
	if (check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED ||
		pg_class_aclmask(relid, GetUserId(), need, ACLMASK_ALL) != need)
		return false;

	s->rel = table_open(relid, RowExclusiveLock);
	if (!t->valid || t->relid != relid)
		classify(t, s->rel);
	if (!t->usable)
	{
		table_close(s->rel, NoLock);
		return false;
	}

	s->t = t;
	s->estate = CreateExecutorState();
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = relid;
	rte->relkind = s->rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	rte->requiredPerms = need;
	ExecInitRangeTable(s->estate, list_make1(rte));
	s->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(s->rri, s->rel, 1, NULL, 0);
	s->indexes_open = false;
	s->keyrel = t->keyed ? index_open(t->keyidx, RowExclusiveLock) : NULL;
	s->estate->es_output_cid = GetCurrentCommandId(true);
	s->defaults = NULL;
	s->slot = table_slot_create(s->rel, &s->estate->es_tupleTable);
	s->newslot = ExecInitExtraTupleSlot(s->estate, RelationGetDescr(s->rel), &TTSOpsVirtual);
	return true;
}

/*
 * Open the table's indexes for a write, once per session: a session that
 * only reads (an event that changes nothing) needs the key index alone.
 */
static void
open_indexes(DirectSession *s)
{
	if (!s->indexes_open)
		ExecOpenIndices(s->rri, s->t->keyed);
	s->indexes_open = true;
}

static void
session_close(DirectSession *s)
{
	if (s->indexes_open)
		ExecCloseIndices(s->rri);
	if (s->keyrel != NULL)
		index_close(s->keyrel, NoLock);
	ExecResetTupleTable(s->estate->es_tupleTable, false);
	FreeExecutorState(s->estate);
	table_close(s->rel, NoLock);
}

/*
 * Check a value for the domain of attribute i, if it has one, as the SQL
 * path's coercion to the column's type does.
 */
static void
check_domain(DirectTable *t, int i, Datum value, bool isnull)
{
	if (OidIsValid(t->domain[i]))
		domain_check(value, isnull, t->domain[i], &t->domain_extra[i], t->cxt);
}

/*
 * Fill values/isnull with the defaults of the attributes an insert does not
 * set, evaluated in the session's executor state, copied into the current
 * memory context.
 */
static void
fill_defaults(DirectSession *s, Datum *values, bool *isnull)
{
	DirectTable *t = s->t;
	ExprContext *econtext = GetPerTupleExprContext(s->estate);

	if (s->defaults == NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(s->estate->es_query_cxt);

		s->defaults = palloc0(sizeof(ExprState *) * t->natts);
		for (int i = 0; i < t->natts; i++)
			if (t->take_default[i] && t->defaults[i] != NULL)
				s->defaults[i] = ExecInitExpr(t->defaults[i], NULL);
		MemoryContextSwitchTo(oldcxt);
	}
	for (int i = 0; i < t->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(RelationGetDescr(s->rel), i);

		values[i] = (Datum) 0;
		isnull[i] = true;
		if (s->defaults[i] == NULL)
			continue;
		values[i] = ExecEvalExprSwitchContext(s->defaults[i], econtext, &isnull[i]);
		if (!isnull[i])
			values[i] = datumCopy(values[i], a->attbyval, a->attlen);
	}
	ResetExprContext(econtext);
}

/* Put values/isnull into the session's virtual slot. */
static TupleTableSlot *
store_values(DirectSession *s, Datum *values, bool *isnull)
{
	TupleTableSlot *slot = s->newslot;

	ExecClearTuple(slot);
	memcpy(slot->tts_values, values, sizeof(Datum) * s->t->natts);
	memcpy(slot->tts_isnull, isnull, sizeof(bool) * s->t->natts);
	return ExecStoreVirtualTuple(slot);
}

/*
 * Insert the row in the session's virtual slot (the events table: no
 * conflict to expect but a unique violation, raised as the SQL path would).
 */
static void
insert_row(DirectSession *s)
{
	open_indexes(s);
	s->estate->es_output_cid = GetCurrentCommandId(true);
	ExecSimpleRelationInsert(s->rri, s->estate, s->newslot);
	CommandCounterIncrement();
}

/*
 * Insert the call row in the session's virtual slot with the speculative
 * insertion protocol of INSERT ... ON CONFLICT (nodeModifyTable.c): false
 * when another transaction inserted the same call first, so that the
 * caller reads it and merges into it instead.
 */
static bool
insert_speculative(DirectSession *s)
{
	List	   *arbiters = list_make1_oid(s->t->keyidx);
	ItemPointerData conflict;
	uint32		token;
	bool		spec_conflict = false;
	List	   *recheck;

	open_indexes(s);
	CheckCmdReplicaIdentity(s->rel, CMD_INSERT);
	if (RelationGetDescr(s->rel)->constr)
		ExecConstraints(s->rri, s->newslot, s->estate);
	/* waits for a concurrent inserter of the same call, as ON CONFLICT does */
	if (!ExecCheckIndexConstraints(s->rri, s->newslot, s->estate, &conflict, arbiters))
		return false;

	token = SpeculativeInsertionLockAcquire(GetCurrentTransactionId());
	table_tuple_insert_speculative(s->rel, s->newslot, GetCurrentCommandId(true), 0, NULL,
								   token);
	recheck = ExecInsertIndexTuples(s->rri, s->newslot, s->estate, false, true,
									&spec_conflict, arbiters);
	table_tuple_complete_speculative(s->rel, s->newslot, token, !spec_conflict);
	SpeculativeInsertionLockRelease(GetCurrentTransactionId());
	list_free(recheck);
	CommandCounterIncrement();
	return !spec_conflict;
}

/*
 * Replace the version read (tid) by the row in the session's virtual slot,
 * if it is still the latest: false when a concurrent transaction updated
 * or deleted it first (after waiting for it to end), so that the caller
 * reads and merges again.
 */
static bool
update_row(DirectSession *s, ItemPointer tid)
{
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	bool		update_indexes;
	TM_Result	result;
	CommandId	cid = GetCurrentCommandId(true);

	open_indexes(s);
	CheckCmdReplicaIdentity(s->rel, CMD_UPDATE);
	if (RelationGetDescr(s->rel)->constr)
		ExecConstraints(s->rri, s->newslot, s->estate);
	result = table_tuple_update(s->rel, tid, s->newslot, cid,
								ActiveSnapshotSet() ? GetActiveSnapshot() : InvalidSnapshot,
								InvalidSnapshot, true, &tmfd, &lockmode, &update_indexes);
	switch (result)
	{
		case TM_Ok:
			break;
		case TM_Updated:
		case TM_Deleted:
			return false;
		case TM_SelfModified:
			ereport(ERROR,
					(errcode(ERRCODE_CARDINALITY_VIOLATION),
					 errmsg("vapi_calls: the call row was already changed by the current command"),
					 errhint("Do not ingest from a statement that also writes vapi.calls.")));
			break;				/* not reached */
		default:
			elog(ERROR, "vapi_calls: unexpected result %d updating a call row", (int) result);
	}
	if (update_indexes && s->rri->ri_NumIndices > 0)
		list_free(ExecInsertIndexTuples(s->rri, s->newslot, s->estate, true, false,
										NULL, NIL));
	CommandCounterIncrement();
	return true;
}

/*
 * Read the latest committed version of the call's row (and our own
 * transaction's) into the session's slot; false when there is none.
 */
static bool
find_call(DirectSession *s, text *call_id)
{
	Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());
	ScanKeyData key;
	IndexScanDesc scan;
	bool		found;

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, s->t->keyproc, PointerGetDatum(call_id));
	key.sk_collation = s->t->keycoll;
	scan = index_beginscan(s->rel, s->keyrel, snap, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, s->slot);
	index_endscan(scan);
	UnregisterSnapshot(snap);
	return found;
}

/* The attribute index (0-based) of known column c of vapi.calls. */
#define CATT(c)		(calls_table.att[(c)] - 1)

/* Read the row in the session's slot into img. */
static void
image_from_slot(DirectSession *s, CallImage *img)
{
	int			natts = s->t->natts;
	Datum		d;

	slot_getallattrs(s->slot);
	img->exists = img->stored = true;
	img->dirty = false;
	img->tid = s->slot->tts_tid;
	img->values = palloc(sizeof(Datum) * natts);
	img->isnull = palloc(sizeof(bool) * natts);
	memcpy(img->values, s->slot->tts_values, sizeof(Datum) * natts);
	memcpy(img->isnull, s->slot->tts_isnull, sizeof(bool) * natts);

	memset(img->fv, 0, sizeof(img->fv));
	memset(img->has_fv, 0, sizeof(img->has_fv));
	if (img->isnull[CATT(C_VERSIONS)])
		return;
	d = img->values[CATT(C_VERSIONS)];
	{
		ArrayType  *a = DatumGetArrayTypeP(d);
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		/* as SQL's subscript field_versions[f] reads it */
		if (ARR_NDIM(a) != 1)
			return;
		deconstruct_array(a, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
						  &elems, &nulls, &n);
		for (int i = 0; i < n; i++)
		{
			int64		sub = (int64) ARR_LBOUND(a)[0] + i;

			if (sub >= 1 && sub <= VF_NUM_FIELDS && !nulls[i])
			{
				img->fv[sub - 1] = DatumGetInt64(elems[i]);
				img->has_fv[sub - 1] = true;
			}
		}
	}
}

/*
 * What the caller name derives from, from the image (resolve.c); the texts
 * are copies, because the event may keep the stored name after the row's
 * buffer is released.
 */
static void
image_row(CallImage *img, VapiRow *row)
{
	int			a;

	memset(row, 0, sizeof(*row));
	a = CATT(C_FIELD0 + VF_ORG_ID);
	row->org_id = img->isnull[a] ? (Datum) 0 : img->values[a];
	a = CATT(C_FIELD0 + VF_PHONE_NUMBER);
	row->phone_number = img->isnull[a] ? NULL : DatumGetTextPCopy(img->values[a]);
	a = CATT(C_FIELD0 + VF_CUSTOMER_NAME);
	row->customer_name = img->isnull[a] ? NULL : DatumGetTextPCopy(img->values[a]);
	a = CATT(C_FIELD0 + VF_CALLER_NAME);
	row->caller_name = img->isnull[a] ? NULL : DatumGetTextPCopy(img->values[a]);
	for (int f = 0; f < VF_NUM_FIELDS; f++)
		row->fversion[f] = img->fv[f];
}

/*
 * The incoming value and version of field f, as the SQL upsert passes them:
 * a missing value has version 0, and a missing metadata is the empty
 * object.
 */
static void
incoming_field(VapiEvent *ev, int f, Datum *value, bool *isnull, int64 *version)
{
	*value = ev->value[f];
	*isnull = ev->isnull[f];
	*version = ev->isnull[f] ? 0 : ev->fversion[f];
	if (f == VF_METADATA && ev->isnull[f])
	{
		*value = vapi_empty_object();
		*isnull = false;
	}
}

/* The versions array of the image's fv, as vapi.merge_versions builds it. */
static Datum
versions_datum(const int64 *fv)
{
	Datum		elems[VF_NUM_FIELDS];

	for (int f = 0; f < VF_NUM_FIELDS; f++)
		elems[f] = Int64GetDatum(fv[f]);
	return PointerGetDatum(construct_array(elems, VF_NUM_FIELDS, INT8OID, sizeof(int64),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* The status column for a rank and the (merged) ended reason in the image. */
static void
set_status(CallImage *img, int rank)
{
	int			a = CATT(C_FIELD0 + VF_ENDED_REASON);
	const char *status = vapi_status_of(rank, img->isnull[a] ? NULL :
										DatumGetTextPP(img->values[a]));

	img->isnull[CATT(C_STATUS)] = (status == NULL);
	img->values[CATT(C_STATUS)] = status ? CStringGetTextDatum(status) : (Datum) 0;
}

/* Fill res from the image: id, status and org. */
static void
image_result(CallImage *img, VapiMergeResult *res)
{
	int			a = CATT(C_FIELD0 + VF_ORG_ID);

	res->call_uuid = datumCopy(img->values[CATT(C_ID)], false, UUID_LEN);
	res->status = img->isnull[CATT(C_STATUS)] ? NULL :
		TextDatumGetCString(img->values[CATT(C_STATUS)]);
	res->org_id = img->isnull[a] ? (Datum) 0 : datumCopy(img->values[a], false, UUID_LEN);
}

/* Set known column c of the image to a non-null value. */
#define SET(c, v) (img->values[CATT(c)] = (v), img->isnull[CATT(c)] = false)

/* The image of a new row made by the event alone, as the upsert's INSERT. */
static void
image_insert(DirectSession *s, CallImage *img, VapiEvent *ev, TimestampTz now,
			 VapiMergeResult *res)
{
	int			natts = s->t->natts;
	TimestampTz at = ev->has_event_at ? ev->event_at : now;

	img->values = palloc(sizeof(Datum) * natts);
	img->isnull = palloc(sizeof(bool) * natts);
	fill_defaults(s, img->values, img->isnull);
	img->exists = img->dirty = true;
	img->stored = false;

	SET(C_CALL_ID, PointerGetDatum(ev->call_id));
	for (int f = 0; f < VF_NUM_FIELDS; f++)
	{
		int			a = CATT(C_FIELD0 + f);

		incoming_field(ev, f, &img->values[a], &img->isnull[a], &img->fv[f]);
		img->has_fv[f] = true;
	}
	SET(C_IS_TEST, BoolGetDatum(ev->is_test_call));
	SET(C_RANK, Int16GetDatum(ev->rank));
	set_status(img, ev->rank);
	SET(C_VERSIONS, versions_datum(img->fv));
	SET(C_FIRST, TimestampTzGetDatum(at));
	SET(C_LAST, TimestampTzGetDatum(at));
	SET(C_CREATED, TimestampTzGetDatum(now));
	SET(C_UPDATED, TimestampTzGetDatum(now));

	memset(res, 0, sizeof(*res));
	res->inserted = res->wrote = res->changed = true;
	image_result(img, res);
}

/*
 * Merge the event into an existing image, exactly as the upsert's DO UPDATE
 * (merge.c): each field by the merge rule, the rank and test flag only
 * growing, first and last times a min and a max.  When the upsert's WHERE
 * clause would be false, the image is left as it was.
 */
static void
image_merge(CallImage *img, VapiEvent *ev, TimestampTz now, VapiMergeResult *res)
{
	TimestampTz at = ev->has_event_at ? ev->event_at : now;
	int16		rank = DatumGetInt16(img->values[CATT(C_RANK)]);
	bool		is_test = DatumGetBool(img->values[CATT(C_IS_TEST)]);
	TimestampTz first = DatumGetTimestampTz(img->values[CATT(C_FIRST)]);
	TimestampTz last = DatumGetTimestampTz(img->values[CATT(C_LAST)]);
	int32		applied = DatumGetInt32(img->values[CATT(C_APPLIED)]);
	Datum		newval[VF_NUM_FIELDS];
	bool		newnull[VF_NUM_FIELDS];
	int64		newfv[VF_NUM_FIELDS];
	bool		wins_any = false;
	bool		grows = ev->rank > rank || (ev->is_test_call && !is_test);
	bool		visible = grows;

	for (int f = 0; f < VF_NUM_FIELDS; f++)
	{
		int			a = CATT(C_FIELD0 + f);
		Datum		stored = img->values[a];
		bool		stored_null = img->isnull[a];
		Datum		value;
		bool		isnull;
		int64		iv;
		int64		sv = img->has_fv[f] ? img->fv[f] : 0;
		bool		wins;

		incoming_field(ev, f, &value, &isnull, &iv);
		wins = vapi_field_wins(f, img->has_fv[f], img->fv[f], stored, stored_null,
							   iv, value, isnull, calls_table.collation[a]);
		newval[f] = wins ? value : stored;
		newnull[f] = wins ? isnull : stored_null;
		if (vapi_fields[f].derived)
			newfv[f] = iv != 0 ? iv : sv;
		else
			newfv[f] = iv > sv ? iv : sv;
		if (wins)
		{
			wins_any = true;
			if (!visible && !vapi_values_equal(vapi_fields[f].type, calls_table.collation[a],
											   stored, stored_null, value, isnull))
				visible = true;
		}
	}

	memset(res, 0, sizeof(*res));
	if (!(grows || at < first || at > last || wins_any))
	{
		image_result(img, res);
		res->org_id = (Datum) 0;	/* as the SQL path's lookup: not read */
		return;
	}

	for (int f = 0; f < VF_NUM_FIELDS; f++)
	{
		img->values[CATT(C_FIELD0 + f)] = newval[f];
		img->isnull[CATT(C_FIELD0 + f)] = newnull[f];
		img->fv[f] = newfv[f];
		img->has_fv[f] = true;
	}
	if (ev->rank > rank)
		rank = ev->rank;
	SET(C_IS_TEST, BoolGetDatum(is_test || ev->is_test_call));
	SET(C_RANK, Int16GetDatum(rank));
	set_status(img, rank);
	SET(C_VERSIONS, versions_datum(img->fv));
	SET(C_FIRST, TimestampTzGetDatum(at < first ? at : first));
	SET(C_LAST, TimestampTzGetDatum(at > last ? at : last));
	SET(C_APPLIED, Int32GetDatum(applied + 1));
	if (visible)
	{
		SET(C_CHANGE_SEQ, Int32GetDatum(applied + 1));
		SET(C_UPDATED, TimestampTzGetDatum(now));
	}
	img->dirty = true;
	res->wrote = true;
	res->changed = visible;
	image_result(img, res);
}

#undef SET

/*
 * Apply the event to the image: derive the caller name from what the row
 * will hold (resolve.c), then insert or merge.  A fill-only event
 * (vapi.reresolve) applies only to an existing row and keeps its org.
 */
static void
image_apply(DirectSession *s, CallImage *img, VapiEvent *ev, TimestampTz now,
			VapiMergeResult *res)
{
	VapiRow		row;

	memset(res, 0, sizeof(*res));
	if (ev->fill_only)
	{
		if (!img->exists)
			return;				/* deleted meanwhile: not to be re-created */
		if (!img->isnull[CATT(C_FIELD0 + VF_ORG_ID)])
			ev->isnull[VF_ORG_ID] = true;	/* resolved meanwhile: kept */
	}
	if (!img->exists)
	{
		vapi_resolve_caller(ev, NULL);
		image_insert(s, img, ev, now, res);
		return;
	}
	image_row(img, &row);
	vapi_resolve_caller(ev, &row);
	image_merge(img, ev, now, res);
}

/* Check the domains of the image's columns, as the SQL path's coercions do. */
static void
check_image_domains(CallImage *img)
{
	for (int i = 0; i < calls_table.natts; i++)
		check_domain(&calls_table, i, img->values[i], img->isnull[i]);
}

/*
 * Merge the n events of one call (all with the same call id, their orgs
 * resolved) into its row, in order, writing the row at most once:
 * res[i] is what event i did, as if each had been merged on its own.
 * False when direct access is not possible here: the caller takes the SQL
 * path.  The row stays locked (by the update) until the (sub)transaction
 * ends; an event group that changes nothing locks nothing.
 */
bool
vapi_direct_merge(VapiEvent **evs, const TimestampTz *nows, int n, VapiMergeResult *res)
{
	DirectSession s;
	MemoryContext cxt = CurrentMemoryContext;

	if (!session_open(&calls_table, true, &s))
		return false;

	for (int attempt = 1;; attempt++)
	{
		CallImage	img;
		bool		done;

		CHECK_FOR_INTERRUPTS();

		/*
		 * Our own writes earlier in this command (a statement that wrote the
		 * row, then calls us) become visible to the read, as they are to the
		 * next statement of a function; a retry never loops on a row the
		 * read cannot see.
		 */
		CommandCounterIncrement();
		if (attempt > 1000)
			elog(ERROR, "vapi_calls: could not merge into the row of call \"%s\" after %d attempts",
				 text_to_cstring(evs[0]->call_id), attempt - 1);
		memset(&img, 0, sizeof(img));
		if (find_call(&s, evs[0]->call_id))
			image_from_slot(&s, &img);
		for (int i = 0; i < n; i++)
			image_apply(&s, &img, evs[i], nows[i], &res[i]);
		if (!img.dirty)
			break;
		check_image_domains(&img);
		store_values(&s, img.values, img.isnull);
		done = img.stored ? update_row(&s, &img.tid) : insert_speculative(&s);
		MemoryContextSwitchTo(cxt);
		if (done)
			break;
		/* another transaction wrote the row first: merge into what it wrote */
	}
	session_close(&s);
	return true;
}

/*
 * Open the event log for inserts, directly when direct access keeps every
 * guarantee the SQL insert gives; vapi_event_log_write then writes as many
 * deliveries as wanted, and vapi_event_log_close ends.  Open, write and
 * close in one (sub)transaction.
 */
VapiEventLog *
vapi_event_log_open(void)
{
	VapiEventLog *log = palloc0(sizeof(VapiEventLog));

	log->direct = session_open(&events_table, false, &log->s);
	return log;
}

void
vapi_event_log_close(VapiEventLog *log)
{
	if (log->direct)
		session_close(&log->s);
	pfree(log);
}

/*
 * Insert one delivery into the open event log; false when the SQL path
 * must do it.  *id is the new row's id.
 */
bool
vapi_event_log_write(VapiEventLog *log, Jsonb *payload, VapiEvent *ev,
					 TimestampTz received_at, const char *outcome, const char *detail,
					 int64 *id)
{
	DirectTable *t = &events_table;
	Datum	   *values;
	bool	   *isnull;

	if (!log->direct)
		return false;
	values = palloc(sizeof(Datum) * t->natts);
	isnull = palloc(sizeof(bool) * t->natts);
	fill_defaults(&log->s, values, isnull);

#define EV(c, v, n) (values[t->att[c] - 1] = (v), isnull[t->att[c] - 1] = (n))
	EV(E_RECEIVED, TimestampTzGetDatum(received_at), false);
	EV(E_CALL_ID, ev->call_id ? PointerGetDatum(ev->call_id) : CStringGetTextDatum(""), false);
	EV(E_TYPE, PointerGetDatum(ev->type), ev->type == NULL);
	EV(E_STATUS, ev->status_name ? CStringGetTextDatum(ev->status_name) : (Datum) 0,
	   ev->status_name == NULL);
	EV(E_EVENT_AT, TimestampTzGetDatum(ev->event_at), !ev->has_event_at);
	EV(E_PAYLOAD, payload ? JsonbPGetDatum(payload) : (Datum) 0, payload == NULL);
	EV(E_OUTCOME, CStringGetTextDatum(outcome), false);
	EV(E_DETAIL, detail ? CStringGetTextDatum(detail) : (Datum) 0, detail == NULL);
#undef EV
	if (isnull[t->att[E_ID] - 1])
		elog(ERROR, "vapi_calls: vapi.events.id has no default");
	*id = DatumGetInt64(values[t->att[E_ID] - 1]);
	for (int i = 0; i < t->natts; i++)
		check_domain(t, i, values[i], isnull[i]);

	store_values(&log->s, values, isnull);
	insert_row(&log->s);
	pfree(values);
	pfree(isnull);
	return true;
}
