"""SQLAlchemy 2.x asyncio (sqlite+aiosqlite) on top of this greenlet.

SQLAlchemy's asyncio layer runs all of its synchronous ORM/Core code inside a
greenlet (``greenlet_spawn``); whenever that code needs the database it
switches back to the event loop's greenlet with the awaitable (``await_only``)
and is switched back into with the result.  Lazy loads inside ``run_sync``,
``awaitable_attrs``, connection-pool waits and error propagation all take that
path.  No monkey-patching is involved, so this runs in-process, each test in its
own ``asyncio.run`` with its own engine (disposed at the end) on a file database
under tmp_path.

Needs SQLAlchemy 2.x and aiosqlite (tests/integration/requirements.txt);
skipped without them.
"""
import asyncio
import gc
import warnings

import pytest

sqlalchemy = pytest.importorskip(
    "sqlalchemy",
    minversion="2.0",
    reason="SQLAlchemy 2.x is not installed (pip install -r tests/integration/requirements.txt)",
)
pytest.importorskip(
    "aiosqlite",
    reason="aiosqlite is not installed (pip install -r tests/integration/requirements.txt)",
)

import greenlet  # noqa: E402
from sqlalchemy import ForeignKey, String, func, select  # noqa: E402
from sqlalchemy.exc import IntegrityError, MissingGreenlet, StatementError  # noqa: E402
from sqlalchemy.ext.asyncio import (  # noqa: E402
    AsyncAttrs,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import (  # noqa: E402
    DeclarativeBase,
    Mapped,
    mapped_column,
    relationship,
)

# Bounds every asyncio.run below; the whole file takes a few seconds.
RUN_TIMEOUT = 60


class Base(AsyncAttrs, DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "author"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    # lazy="select" (the default, spelled out): loading it emits SQL, which in
    # asyncio is only allowed inside the greenlet that greenlet_spawn made.
    books: Mapped[list["Book"]] = relationship(
        back_populates="author", lazy="select", order_by="Book.id",
        cascade="all, delete-orphan")


class Book(Base):
    __tablename__ = "book"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    author_id: Mapped[int] = mapped_column(ForeignKey("author.id"))
    author: Mapped[Author] = relationship(back_populates="books", lazy="select")


def run(coro_fn, *args):
    async def bounded():
        return await asyncio.wait_for(coro_fn(*args), RUN_TIMEOUT)
    return asyncio.run(bounded())


async def make_engine(db_path, **kw):
    engine = create_async_engine(
        "sqlite+aiosqlite:///%s" % db_path,
        # sqlite3's busy timeout: concurrent writers wait for the file lock.
        connect_args={"timeout": 30},
        **kw,
    )
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    return engine


async def seed(session_factory, authors=3, books_each=4):
    async with session_factory() as session:
        async with session.begin():
            for a in range(authors):
                author = Author(name="author-%d" % a)
                author.books = [Book(title="book-%d-%d" % (a, b)) for b in range(books_each)]
                session.add(author)


async def snapshot(session_factory):
    """Every row, as plain tuples, to compare before/after."""
    async with session_factory() as session:
        authors = (await session.execute(
            select(Author.id, Author.name).order_by(Author.id))).all()
        books = (await session.execute(
            select(Book.id, Book.title, Book.author_id).order_by(Book.id))).all()
        return [tuple(r) for r in authors], [tuple(r) for r in books]


def test_lazy_loads_inside_run_sync(tmp_path):
    async def main():
        engine = await make_engine(tmp_path / "lazy.db")
        try:
            Session = async_sessionmaker(engine, expire_on_commit=False)
            await seed(Session)

            async with Session() as session:
                # Outside run_sync a lazy load cannot await: SQLAlchemy notices
                # there is no greenlet_spawn greenlet and raises MissingGreenlet
                # (wrapped in a StatementError when it happens mid-statement).
                author = (await session.execute(
                    select(Author).where(Author.name == "author-1"))).scalar_one()
                with warnings.catch_warnings():
                    # The aiosqlite coroutine it made is never awaited: expected.
                    warnings.simplefilter("ignore", RuntimeWarning)
                    with pytest.raises((MissingGreenlet, StatementError),
                                       match="greenlet_spawn has not been called") as exc:
                        author.books  # noqa: B018
                    del exc
                    gc.collect()

                outer = greenlet.getcurrent()

                def sync_part(sync_session):
                    # This runs in a greenlet spawned by SQLAlchemy...
                    inner = greenlet.getcurrent()
                    assert inner is not outer
                    assert inner.parent is outer
                    # ...and each lazy load below switches to `outer` to await
                    # the aiosqlite query, then is switched back in.
                    result = {}
                    for a in sync_session.scalars(select(Author).order_by(Author.id)):
                        result[a.name] = [b.title for b in a.books]  # one-to-many
                    book = sync_session.scalars(
                        select(Book).where(Book.title == "book-2-3")).one()
                    result["owner of book-2-3"] = book.author.name  # many-to-one
                    return result

                result = await session.run_sync(sync_part)
                assert greenlet.getcurrent() is outer

                # The same lazy load through AsyncAttrs (greenlet_spawn too).
                titles = [b.title for b in await author.awaitable_attrs.books]
            return result, titles
        finally:
            await engine.dispose()

    result, titles = run(main)
    assert result == {
        "author-0": ["book-0-%d" % b for b in range(4)],
        "author-1": ["book-1-%d" % b for b in range(4)],
        "author-2": ["book-2-%d" % b for b in range(4)],
        "owner of book-2-3": "author-2",
    }
    assert titles == ["book-1-%d" % b for b in range(4)]


def test_200_concurrent_sessions(tmp_path):
    N = 200

    async def main():
        # A pool smaller than N: sessions also queue for connections, which in
        # SQLAlchemy's async pool is another await from inside a greenlet.
        engine = await make_engine(tmp_path / "many.db", pool_size=10, max_overflow=5,
                                   pool_timeout=30)
        try:
            Session = async_sessionmaker(engine, expire_on_commit=False)
            in_flight = [0, 0]

            async def one(i):
                in_flight[0] += 1
                in_flight[1] = max(in_flight[1], in_flight[0])
                try:
                    async with Session() as session:
                        async with session.begin():
                            author = Author(name="writer-%d" % i)
                            author.books = [Book(title="w%d-b%d" % (i, b))
                                            for b in range(i % 4 + 1)]
                            session.add(author)
                        author_id = author.id
                    # A fresh session: the lazy load must really hit the DB.
                    async with Session() as session:
                        def count_books(sync_session):
                            a = sync_session.get(Author, author_id)
                            return a.name, [b.title for b in a.books]
                        return await session.run_sync(count_books)
                finally:
                    in_flight[0] -= 1

            results = await asyncio.gather(*(one(i) for i in range(N)))

            async with Session() as session:
                n_authors = await session.scalar(select(func.count(Author.id)))
                n_books = await session.scalar(select(func.count(Book.id)))
            return results, in_flight[1], n_authors, n_books
        finally:
            await engine.dispose()

    results, peak, n_authors, n_books = run(main)
    assert len(results) == N
    for i, (name, titles) in enumerate(results):
        assert name == "writer-%d" % i
        assert titles == ["w%d-b%d" % (i, b) for b in range(i % 4 + 1)]
    assert n_authors == N
    assert n_books == sum(i % 4 + 1 for i in range(N))
    # They really overlapped (gather starts them all before any can finish).
    assert peak == N


def test_rollback_on_error_leaves_db_unchanged(tmp_path):
    class Boom(Exception):
        pass

    async def main():
        engine = await make_engine(tmp_path / "rollback.db")
        try:
            Session = async_sessionmaker(engine, expire_on_commit=False)
            await seed(Session)
            before = await snapshot(Session)
            outcomes = []

            # 1. A Python exception after a flush: session.begin() rolls back.
            try:
                async with Session() as session:
                    async with session.begin():
                        session.add(Author(name="ghost", books=[Book(title="ghost book")]))
                        await session.flush()
                        author = await session.scalar(
                            select(Author).where(Author.name == "author-0"))
                        author.name = "renamed"
                        await session.flush()
                        raise Boom("after flush")
            except Boom as e:
                outcomes.append(("python", str(e)))

            # 2. An exception thrown inside run_sync, after lazy loads and
            #    changes there: it crosses the greenlet boundary intact.
            try:
                async with Session() as session:
                    async with session.begin():
                        def mutate_then_fail(sync_session):
                            a = sync_session.scalars(
                                select(Author).where(Author.name == "author-2")).one()
                            a.books.append(Book(title="never saved"))
                            del a.books[0]
                            sync_session.flush()
                            raise Boom("in run_sync")
                        await session.run_sync(mutate_then_fail)
            except Boom as e:
                outcomes.append(("run_sync", str(e)))

            # 3. A database error (UNIQUE constraint) during flush.
            try:
                async with Session() as session:
                    async with session.begin():
                        session.add(Author(name="fresh"))
                        await session.flush()
                        session.add(Author(name="author-1"))  # duplicate name
                        await session.flush()
            except IntegrityError as e:
                outcomes.append(("integrity", type(e.orig).__name__))

            # 4. Explicit rollback, and the session stays usable afterwards
            #    (a plain AsyncSession this time, not from the sessionmaker).
            async with AsyncSession(engine) as session:
                session.add(Author(name="rolled back"))
                await session.flush()
                await session.rollback()
                still_there = await session.scalar(select(func.count(Author.id)))
                outcomes.append(("explicit", still_there))

            after = await snapshot(Session)
            return before, after, outcomes
        finally:
            await engine.dispose()

    before, after, outcomes = run(main)
    assert outcomes == [
        ("python", "after flush"),
        ("run_sync", "in run_sync"),
        ("integrity", "IntegrityError"),
        ("explicit", 3),
    ]
    assert after == before
    assert len(before[0]) == 3 and len(before[1]) == 12


def test_no_greenlets_left_behind(tmp_path):
    """After the loop is gone nothing SQLAlchemy spawned is still alive."""
    async def main():
        engine = await make_engine(tmp_path / "leak.db")
        try:
            Session = async_sessionmaker(engine)
            await seed(Session, authors=2, books_each=2)
            async with Session() as session:
                def touch(sync_session):
                    return sum(len(a.books) for a in sync_session.scalars(select(Author)))
                return await session.run_sync(touch)
        finally:
            await engine.dispose()

    assert run(main) == 4
    gc.collect()
    alive = [o for o in gc.get_objects()
             if isinstance(o, greenlet.greenlet) and o and o is not greenlet.getcurrent()]
    assert alive == []
