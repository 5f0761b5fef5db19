/*-------------------------------------------------------------------------
 *
 * dircache.c
 *	  The directory lookups on the extension's own tables, done in C: an
 *	  index scan each, and per-backend caches of the agents' and phone
 *	  numbers' answers.
 *
 * When a source setting has its default value (vapi.agents,
 * vapi.phone_numbers, vapi.contacts), sources.c asks here first.  The
 * lookup is the one the SQL would do (sources.c has its text), done by an
 * index scan of the table's index on the key with a fresh MVCC snapshot,
 * as a non-read-only SPI execution would take (after the same
 * CommandCounterIncrement, so the transaction's own earlier writes are
 * seen).  It gives up, and the SQL runs instead, whenever direct access
 * could give another answer than the SQL: the table is not the expected
 * plain table or lacks the expected index; Citus is installed (on a
 * coordinator, the directory is a reference table whose local shell may be
 * empty); the current user may not read the table, or row level security
 * applies to it (check_enable_rls; the SQL then applies the policies or
 * raises).  What is known of a table (its index, its columns, Citus) is
 * kept until a relcache invalidation of it.
 *
 * The answers for assistants and phone number ids (an org, or "not found":
 * unknown assistants are common) are kept in a hash table per directory,
 * in its own memory context, emptied when it reaches DIRCACHE_MAX entries.
 * Ordinary DML sends no relcache invalidation, so the install script puts
 * statement-level AFTER INSERT, UPDATE, DELETE and TRUNCATE triggers on
 * vapi.agents and vapi.phone_numbers that call vapi_directory_changed(),
 * which sends one (CacheInvalidateRelcache); answers are kept only while
 * such triggers are there and enabled.  Every backend drops a
 * directory's answers on a relcache invalidation of its table or of every
 * relation (InvalidOid, after a lost invalidation queue):
 *   - another session's change reaches us when it commits; each lookup
 *     first reads the invalidation queue (AcceptInvalidationMessages), so
 *     the next event after that commit sees it;
 *   - our own transaction's change is invalidated locally at its command's
 *     end (CommandCounterIncrement), and again if it rolls back (inval.c
 *     replays a rolled-back transaction's or subtransaction's
 *     invalidations locally), so neither a change nor its undoing stays
 *     unseen;
 *   - an answer read with a snapshot older than an invalidation processed
 *     during its scan is not kept (the directory's generation counter);
 *   - under REPEATABLE READ and SERIALIZABLE the SQL would read the
 *     transaction's snapshot, which may be older than what is cached, so
 *     there the cache is neither read nor filled: every lookup is a scan
 *     (with the predicate locks SERIALIZABLE needs, which the index scan
 *     takes itself).
 * The contacts lookup is a scan of contacts_org_phone_idx without a
 * cache: it runs only when a call's org or number changes (about once per
 * call), with a key (org, number) that seldom repeats, so a cache would
 * mostly miss and cost a trigger on the largest directory table.
 *
 * Nothing here runs user code or SQL, so the search_path plays no part.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/primnodes.h"
#include "storage/sinval.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "vapi_calls.h"

PG_FUNCTION_INFO_V1(vapi_directory_changed);

/* Answers kept per directory before its cache is emptied. */
#define DIRCACHE_MAX		8192

/* Keys this long or longer are looked up each time, never kept. */
#define DIRCACHE_KEYLEN		64

typedef enum DirTable
{
	DIR_AGENTS,
	DIR_PHONE_NUMBERS,
	DIR_CONTACTS,
	DIR_NUM
} DirTable;

/* What a directory table must be for a direct lookup, and what it is. */
typedef struct DirRel
{
	const char *relname;		/* in schema vapi */
	const char *source;			/* the source setting's default value */
	char	  **setting;		/* the setting's variable */
	const char *keycol;			/* agents, phone numbers: the key column */

	/* known of the table until its relcache invalidation */
	bool		known;
	bool		direct;			/* false: the SQL does every lookup */
	bool		cacheable;		/* direct, and its invalidation triggers are on */
	Oid			relid;
	Oid			indexid;
	AttrNumber	att_key;		/* key column (contacts: phone) */
	AttrNumber	att_org;
	AttrNumber	att_extra;		/* phone numbers: assistant_id; contacts: name */
	AttrNumber	att_id;			/* contacts: id */
	Oid			collation[2];	/* of the index's text key column */
	RegProcedure eqproc[2];		/* equality of the scan keys */

	/* the cache of answers: agents and phone numbers */
	uint64		generation;		/* bumped by every invalidation of the table */
	MemoryContext cxt;
	HTAB	   *answers;
} DirRel;

static DirRel dirs[DIR_NUM] = {
	[DIR_AGENTS] = {"agents", VAPI_AGENTS_SOURCE_DEFAULT, &vapi_agents_source, "vapi_assistant_id"},
	[DIR_PHONE_NUMBERS] = {"phone_numbers", VAPI_PHONE_NUMBERS_SOURCE_DEFAULT,
	&vapi_phone_numbers_source, "vapi_phone_number_id"},
	[DIR_CONTACTS] = {"contacts", VAPI_CONTACTS_SOURCE_DEFAULT, &vapi_contacts_source, NULL},
};

/* One kept answer. */
typedef struct DirAnswer
{
	char		key[DIRCACHE_KEYLEN];	/* NUL-terminated; the hash key */
	bool		found;
	pg_uuid_t	org;
} DirAnswer;

/* Forget what is known of d and its answers. */
static void
forget(DirRel *d)
{
	d->known = false;
	d->generation++;
	if (d->cxt != NULL)
		MemoryContextReset(d->cxt);
	d->answers = NULL;
}

/*
 * Relcache invalidation callback: drop what is known of a directory table
 * when it (or every relation) is invalidated.  Runs wherever invalidations
 * are read, so it only resets memory.
 */
static void
relcache_changed(Datum arg, Oid relid)
{
	for (int i = 0; i < DIR_NUM; i++)
		if (relid == InvalidOid || relid == dirs[i].relid)
			forget(&dirs[i]);
}

/* Register the invalidation callback; from _PG_init. */
void
vapi_dircache_init(void)
{
	CacheRegisterRelcacheCallback(relcache_changed, (Datum) 0);
}

/* The column of rel named name if it has type typid, else InvalidAttrNumber. */
static AttrNumber
column_of_type(Relation rel, const char *name, Oid typid)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return att->atttypid == typid ? att->attnum : InvalidAttrNumber;
	}
	return InvalidAttrNumber;
}

/* The equality function of a btree index column on type typid, or InvalidOid. */
static RegProcedure
equality_proc(Relation idx, int col, Oid typid)
{
	Oid			op = get_opfamily_member(idx->rd_opfamily[col], typid, typid,
										 BTEqualStrategyNumber);

	return OidIsValid(op) ? get_opcode(op) : InvalidOid;
}

/*
 * Is idx a btree index of d's table that a lookup can scan as the SQL's
 * plan would: valid, no predicate, text columns in a deterministic
 * collation (so that equal means the same bytes), and for agents and phone
 * numbers unique on the key column alone; for contacts (org_id,
 * vapi.normalize_phone(phone), id) with id in the default order of uuid.
 */
static bool
index_fits(DirRel *d, Relation rel, Relation idx)
{
	Form_pg_index index = idx->rd_index;
	List	   *exprs;
	FuncExpr   *fn;
	Var		   *var;

	if (!index->indisvalid || !index->indisready || !index->indislive ||
		idx->rd_rel->relam != BTREE_AM_OID || RelationGetIndexPredicate(idx) != NIL)
		return false;

	if (d->keycol != NULL)
	{
		if (!index->indisunique || index->indnkeyatts != 1 ||
			index->indkey.values[0] != d->att_key ||
			idx->rd_indcollation[0] != TupleDescAttr(RelationGetDescr(rel), d->att_key - 1)->attcollation ||
			!get_collation_isdeterministic(idx->rd_indcollation[0]))
			return false;
		d->collation[0] = idx->rd_indcollation[0];
		d->eqproc[0] = equality_proc(idx, 0, TEXTOID);
		return OidIsValid(d->eqproc[0]);
	}

	if (index->indnkeyatts != 3 || index->indkey.values[0] != d->att_org ||
		index->indkey.values[1] != 0 || index->indkey.values[2] != d->att_id ||
		(idx->rd_indoption[2] & INDOPTION_DESC) != 0 ||
		idx->rd_opfamily[2] != get_opclass_family(GetDefaultOpClass(UUIDOID, BTREE_AM_OID)) ||
		!OidIsValid(idx->rd_indcollation[1]) ||
		!get_collation_isdeterministic(idx->rd_indcollation[1]))
		return false;
	exprs = RelationGetIndexExpressions(idx);
	if (list_length(exprs) != 1 || !IsA(linitial(exprs), FuncExpr))
		return false;
	fn = (FuncExpr *) linitial(exprs);
	if (list_length(fn->args) != 1 || !IsA(linitial(fn->args), Var) ||
		get_func_namespace(fn->funcid) != RelationGetNamespace(rel) ||
		strcmp(get_func_name(fn->funcid), "normalize_phone") != 0 ||
		fn->funcresulttype != TEXTOID)
		return false;
	var = (Var *) linitial(fn->args);
	if (var->varattno != d->att_key)
		return false;
	d->eqproc[0] = equality_proc(idx, 0, UUIDOID);
	d->collation[0] = InvalidOid;
	d->eqproc[1] = equality_proc(idx, 1, TEXTOID);
	d->collation[1] = idx->rd_indcollation[1];
	return OidIsValid(d->eqproc[0]) && OidIsValid(d->eqproc[1]);
}

/*
 * Does every INSERT, UPDATE, DELETE and TRUNCATE of rel fire an enabled
 * AFTER trigger that calls vapi.directory_changed() (no WHEN, no column
 * list)?  Without that (a trigger dropped or disabled: both invalidate the
 * relcache), answers are not kept: a change could go unseen.
 */
static bool
invalidated_on_every_write(Relation rel)
{
	TriggerDesc *td = rel->trigdesc;
	int16		all = TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE | TRIGGER_TYPE_DELETE |
		TRIGGER_TYPE_TRUNCATE;
	int16		covered = 0;

	for (int i = 0; td != NULL && i < td->numtriggers; i++)
	{
		Trigger    *t = &td->triggers[i];
		char	   *fn;

		if (t->tgenabled == TRIGGER_DISABLED || !TRIGGER_FOR_AFTER(t->tgtype) ||
			t->tgqual != NULL || t->tgnattr != 0 ||
			get_func_namespace(t->tgfoid) != RelationGetNamespace(rel) ||
			(fn = get_func_name(t->tgfoid)) == NULL || strcmp(fn, "directory_changed") != 0)
			continue;
		covered |= t->tgtype & all;
	}
	return covered == all;
}

/* Find out whether d's table can be read directly, and how (d->direct). */
static void
learn(DirRel *d)
{
	uint64		generation = d->generation;
	Oid			nsp = get_namespace_oid("vapi", true);
	Relation	rel;
	List	   *indexes;
	ListCell   *lc;

	d->direct = false;
	d->cacheable = false;
	d->relid = OidIsValid(nsp) ? get_relname_relid(d->relname, nsp) : InvalidOid;
	if (!OidIsValid(d->relid))
		return;
	rel = table_open(d->relid, AccessShareLock);
	if (rel->rd_rel->relkind == RELKIND_RELATION && !OidIsValid(get_extension_oid("citus", true)))
	{
		Oid			collation;

		if (d->keycol != NULL)
		{
			d->att_key = column_of_type(rel, d->keycol, TEXTOID);
			d->att_org = column_of_type(rel, "org_id", UUIDOID);
			d->att_extra = column_of_type(rel, "assistant_id", TEXTOID);
			d->att_id = InvalidAttrNumber;
		}
		else
		{
			d->att_key = column_of_type(rel, "phone", TEXTOID);
			d->att_org = column_of_type(rel, "org_id", UUIDOID);
			d->att_extra = column_of_type(rel, "name", TEXTOID);
			d->att_id = column_of_type(rel, "id", UUIDOID);
		}
		/* name <> '' must mean "not empty", as in a deterministic collation */
		collation = d->att_extra != InvalidAttrNumber ?
			TupleDescAttr(RelationGetDescr(rel), d->att_extra - 1)->attcollation : InvalidOid;
		if (d->att_key != InvalidAttrNumber && d->att_org != InvalidAttrNumber &&
			(d->keycol != NULL ||
			 (d->att_id != InvalidAttrNumber && d->att_extra != InvalidAttrNumber &&
			  get_collation_isdeterministic(collation))))
		{
			indexes = RelationGetIndexList(rel);
			foreach(lc, indexes)
			{
				Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);
				bool		fits = index_fits(d, rel, idx);

				index_close(idx, NoLock);
				if (fits)
				{
					d->indexid = lfirst_oid(lc);
					d->direct = true;
					break;
				}
			}
			list_free(indexes);
			d->cacheable = d->direct && d->keycol != NULL && invalidated_on_every_write(rel);
		}
	}
	table_close(rel, NoLock);
	/* an invalidation read meanwhile: learn again next time */
	d->known = (d->generation == generation);
}

/*
 * May this lookup on d be done directly?  The source setting names the
 * extension's own table, that table fits, and the current user reads it
 * with no row level security.  Reads the invalidation queue first.
 */
static bool
usable(DirRel *d)
{
	if (strcmp(*d->setting, d->source) != 0)
		return false;
	/* as a non-read-only SPI execution does: our own last writes are seen */
	CommandCounterIncrement();
	AcceptInvalidationMessages();
	if (!d->known)
		learn(d);
	if (!d->direct)
		return false;
	if (pg_class_aclcheck(d->relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		return false;
	return check_enable_rls(d->relid, InvalidOid, true) != RLS_ENABLED;
}

/* A copy of a text value read from a tuple, detoasted. */
static Datum
copy_text(Datum d)
{
	return PointerGetDatum(PG_DETOAST_DATUM_COPY(d));
}

/*
 * The row of d's table with this key, by its unique index: true if there
 * is one, with its org in *org (palloc'd) and, when extra is not NULL, its
 * att_extra column in *extra ((Datum) 0 for null).
 */
static bool
scan_key(DirRel *d, text *key, Datum *org, Datum *extra)
{
	Relation	rel = table_open(d->relid, AccessShareLock);
	Relation	idx = index_open(d->indexid, AccessShareLock);
	Snapshot	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	IndexScanDesc scan;
	ScanKeyData skey;
	bool		found = false;

	ScanKeyEntryInitialize(&skey, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   d->collation[0], d->eqproc[0], PointerGetDatum(key));
	scan = index_beginscan(rel, idx, snapshot, 1, 0);
	index_rescan(scan, &skey, 1, NULL, 0);
	if (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		v = slot_getattr(slot, d->att_org, &isnull);

		/* org_id is NOT NULL; a null would be "no org", as in the SQL */
		if (!isnull)
		{
			pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));

			memcpy(u, DatumGetUUIDP(v), sizeof(pg_uuid_t));
			*org = UUIDPGetDatum(u);
			found = true;
		}
		if (extra != NULL)
		{
			v = slot_getattr(slot, d->att_extra, &isnull);
			*extra = isnull ? (Datum) 0 : copy_text(v);
			found = true;
		}
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	index_close(idx, NoLock);
	table_close(rel, NoLock);
	return found;
}

/* The cache key of a text, or false when it is too long to keep. */
static bool
cache_key(text *t, char *buf)
{
	int			len = VARSIZE_ANY_EXHDR(t);

	if (len >= DIRCACHE_KEYLEN)
		return false;
	memset(buf, 0, DIRCACHE_KEYLEN);
	memcpy(buf, VARDATA_ANY(t), len);
	return true;
}

/* Keep an answer, emptying the cache first when it is full. */
static void
keep(DirRel *d, const char *key, bool found, Datum org)
{
	DirAnswer  *a;
	bool		present;

	if (d->cxt == NULL)
		d->cxt = AllocSetContextCreate(TopMemoryContext, "vapi_calls directory cache",
									   ALLOCSET_DEFAULT_SIZES);
	if (d->answers != NULL && hash_get_num_entries(d->answers) >= DIRCACHE_MAX)
	{
		MemoryContextReset(d->cxt);
		d->answers = NULL;
	}
	if (d->answers == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = DIRCACHE_KEYLEN;
		ctl.entrysize = sizeof(DirAnswer);
		ctl.hcxt = d->cxt;
		d->answers = hash_create("vapi_calls directory answers", 256, &ctl,
								 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	a = (DirAnswer *) hash_search(d->answers, key, HASH_ENTER, &present);
	a->found = found;
	if (found)
		memcpy(&a->org, DatumGetUUIDP(org), sizeof(pg_uuid_t));
}

/*
 * A source lookup done here, if it can be (sources.c asks first): true
 * when it was, with its answer in *found and *result as
 * vapi_source_lookup() gives them; false when the SQL must do it.
 */
bool
vapi_dircache_lookup(VapiSourceId id, Datum *args, Datum *result, bool *found)
{
	DirRel	   *d;
	text	   *key;
	char		buf[DIRCACHE_KEYLEN];
	bool		cacheable;
	uint64		generation;
	Datum		org;

	switch (id)
	{
		case VAPI_SOURCE_AGENTS:
			d = &dirs[DIR_AGENTS];
			break;
		case VAPI_SOURCE_PHONE_NUMBERS:
		case VAPI_SOURCE_PHONE_ASSISTANTS:
			d = &dirs[DIR_PHONE_NUMBERS];
			break;
		default:
			return false;
	}
	if (!usable(d))
		return false;
	key = DatumGetTextPP(args[0]);

	if (id == VAPI_SOURCE_PHONE_ASSISTANTS)
	{
		Datum		assistant = (Datum) 0;

		if (d->att_extra == InvalidAttrNumber)
			return false;		/* the SQL says what is missing */
		*found = scan_key(d, key, &org, &assistant) && assistant != (Datum) 0;
		*result = assistant;
		return true;
	}

	cacheable = d->cacheable && !IsolationUsesXactSnapshot() && cache_key(key, buf);
	if (cacheable && d->answers != NULL)
	{
		DirAnswer  *a = (DirAnswer *) hash_search(d->answers, buf, HASH_FIND, NULL);

		if (a != NULL)
		{
			*found = a->found;
			if (a->found)
			{
				pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));

				memcpy(u, &a->org, sizeof(pg_uuid_t));
				*result = UUIDPGetDatum(u);
			}
			return true;
		}
	}

	generation = d->generation;
	*found = scan_key(d, key, &org, NULL);
	if (*found)
		*result = org;
	/* not if an invalidation was read during the scan: it may be stale */
	if (cacheable && d->generation == generation)
		keep(d, buf, *found, org);
	return true;
}

/*
 * The contacts lookup of sources.c done here, if it can be: true when it
 * was, with *found and *name as vapi_find_contact() gives them.  The name
 * of org's first contact by id, among those whose normalized phone is one
 * of forms[0..n) and whose name is neither null nor empty: the first such
 * entry of each form's range of the index is that form's first by id, and
 * the least of those is the SQL's ORDER BY id LIMIT 1.
 */
bool
vapi_dircache_find_contact(Datum org, text **forms, int n, Datum *name, bool *found)
{
	DirRel	   *d = &dirs[DIR_CONTACTS];
	Relation	rel;
	Relation	idx;
	Snapshot	snapshot;
	TupleTableSlot *slot;
	IndexScanDesc scan;
	ScanKeyData skey[2];
	pg_uuid_t	best_id;

	if (!usable(d))
		return false;

	*found = false;
	rel = table_open(d->relid, AccessShareLock);
	idx = index_open(d->indexid, AccessShareLock);
	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, idx, snapshot, 2, 0);
	for (int i = 0; i < n; i++)
	{
		ScanKeyEntryInitialize(&skey[0], 0, 1, BTEqualStrategyNumber, InvalidOid,
							   d->collation[0], d->eqproc[0], org);
		ScanKeyEntryInitialize(&skey[1], 0, 2, BTEqualStrategyNumber, InvalidOid,
							   d->collation[1], d->eqproc[1], PointerGetDatum(forms[i]));
		index_rescan(scan, skey, 2, NULL, 0);
		while (index_getnext_slot(scan, ForwardScanDirection, slot))
		{
			bool		isnull;
			Datum		v = slot_getattr(slot, d->att_extra, &isnull);
			Datum		id;

			if (isnull || VARSIZE_ANY_EXHDR(DatumGetPointer(v)) == 0)
				continue;
			id = slot_getattr(slot, d->att_id, &isnull);
			if (!isnull && (!*found ||
							memcmp(DatumGetUUIDP(id), &best_id, sizeof(pg_uuid_t)) < 0))
			{
				memcpy(&best_id, DatumGetUUIDP(id), sizeof(pg_uuid_t));
				*name = copy_text(v);
				*found = true;
			}
			/* the rest of this form's range comes later by id */
			break;
		}
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	index_close(idx, NoLock);
	table_close(rel, NoLock);
	return true;
}

/*
 * SQL: vapi.directory_changed() returns trigger, an AFTER trigger of the
 * directory tables: sends a relcache invalidation of the table, so that
 * every backend drops its cached answers for it (at commit for the
 * others, at the command's end for us, and for us again on a rollback).
 */
Datum
vapi_directory_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("vapi.directory_changed() must be fired AFTER, as a trigger")));
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}
