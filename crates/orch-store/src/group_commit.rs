//! Group commit: many small writes made at once share one transaction.
//!
//! Every statement is a round trip to the database (on SQLite, to the
//! driver's thread behind the one writer connection) and every transaction a
//! commit, so one transaction per small write makes the writer, not the
//! database, the limit on how many callers can write at once. Instead one
//! task owns a kind of write (a [`Batch`]): it takes every request waiting in
//! its queue, up to [`Batch::MAX_BATCH`], writes them in one [`WriteTx`], and
//! answers each caller. Nothing waits for a batch to fill: a request that
//! finds the writer idle is written at once, alone; requests that arrive
//! while a batch is being written form the next one.
//!
//! If a batch fails, its items are written again one by one, so one bad item
//! fails alone and every caller gets its own answer. Every transaction goes
//! through [`Writer::observe`], so the writer's health sees its outcome.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::{Result, StoreError};
use crate::write::{WriteTx, Writer};

/// Requests that may wait for the writer before callers wait to enqueue.
const QUEUE_DEPTH: usize = 4096;

/// A kind of write that many callers make at once and that can be written
/// together (new runs, audit records).
pub(crate) trait Batch: Send + Sync + 'static {
    /// What one caller asks to write.
    type Item: Send + Sync + 'static;
    /// What one caller is told once its item is committed.
    type Outcome: Send + 'static;
    /// Most items written by one transaction.
    const MAX_BATCH: usize;
    /// What is written, for logs.
    const NAME: &'static str;

    /// Writes `items` inside `tx` (the queue commits it) and returns one
    /// outcome per item, in the order of `items`. An error fails the whole
    /// transaction; the queue then writes each item alone.
    fn write(
        &self,
        tx: &mut WriteTx,
        items: &[Self::Item],
    ) -> impl Future<Output = Result<Vec<Self::Outcome>>> + Send;
}

struct Request<B: Batch> {
    item: B::Item,
    reply: oneshot::Sender<Result<B::Outcome>>,
}

/// Handle on the task that writes one kind of [`Batch`]; cheap to clone. The
/// task ends once the last handle is dropped and the requests already queued
/// are answered.
pub(crate) struct GroupCommit<B: Batch> {
    queue: mpsc::Sender<Request<B>>,
    transactions: Arc<AtomicU64>,
}

impl<B: Batch> Clone for GroupCommit<B> {
    fn clone(&self) -> Self {
        GroupCommit {
            queue: self.queue.clone(),
            transactions: self.transactions.clone(),
        }
    }
}

impl<B: Batch> fmt::Debug for GroupCommit<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupCommit")
            .field("writes", &B::NAME)
            .field(
                "waiting",
                &(self.queue.max_capacity() - self.queue.capacity()),
            )
            .finish()
    }
}

impl<B: Batch> GroupCommit<B> {
    /// Starts the writing task on the current tokio runtime.
    pub(crate) fn spawn(writer: Writer, batch: B) -> GroupCommit<B> {
        Self::start(writer, batch).0
    }

    /// [`GroupCommit::spawn`], with the task's handle.
    fn start(writer: Writer, batch: B) -> (GroupCommit<B>, JoinHandle<()>) {
        let (queue, requests) = mpsc::channel(QUEUE_DEPTH);
        let transactions = Arc::new(AtomicU64::new(0));
        let server = Server {
            writer,
            batch,
            transactions: transactions.clone(),
        };
        let task = tokio::spawn(server.serve(requests));
        (
            GroupCommit {
                queue,
                transactions,
            },
            task,
        )
    }

    /// Writes `item` with whatever else is being written now, and returns
    /// its outcome once it is committed.
    pub(crate) async fn submit(&self, item: B::Item) -> Result<B::Outcome> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Request { item, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Write transactions the task has begun (batches, and items retried alone).
    #[cfg(test)]
    pub(crate) fn transactions(&self) -> u64 {
        self.transactions.load(Ordering::Relaxed)
    }
}

fn stopped() -> StoreError {
    StoreError::Database(sqlx::Error::PoolClosed)
}

/// The task's side: owns the queue's receiving end.
struct Server<B> {
    writer: Writer,
    batch: B,
    transactions: Arc<AtomicU64>,
}

impl<B: Batch> Server<B> {
    async fn serve(self, mut requests: mpsc::Receiver<Request<B>>) {
        let mut waiting = Vec::with_capacity(B::MAX_BATCH);
        while requests.recv_many(&mut waiting, B::MAX_BATCH).await > 0 {
            let (items, replies) = waiting.drain(..).map(|r| (r.item, r.reply)).unzip();
            self.write_batch(items, replies).await;
        }
    }

    /// Writes `items` in one transaction and answers each; if that fails,
    /// writes each alone.
    async fn write_batch(
        &self,
        items: Vec<B::Item>,
        replies: Vec<oneshot::Sender<Result<B::Outcome>>>,
    ) {
        match self.write(&items).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(error) if items.len() == 1 => {
                let _ = replies.into_iter().next().map(|r| r.send(Err(error)));
            }
            Err(error) => {
                // One bad item must not fail its neighbours.
                tracing::debug!(%error, writes = B::NAME, items = items.len(),
                    "a batched write failed; writing its items one by one");
                for (item, reply) in items.iter().zip(replies) {
                    let outcome = self
                        .write(std::slice::from_ref(item))
                        .await
                        .map(|mut outcomes| outcomes.remove(0));
                    let _ = reply.send(outcome);
                }
            }
        }
    }

    /// One write transaction, seen by the writer's health.
    async fn write(&self, items: &[B::Item]) -> Result<Vec<B::Outcome>> {
        self.transactions.fetch_add(1, Ordering::Relaxed);
        self.writer.observe(self.try_write(items).await)
    }

    async fn try_write(&self, items: &[B::Item]) -> Result<Vec<B::Outcome>> {
        let mut tx = self.writer.begin().await?;
        let outcomes = self.batch.write(&mut tx, items).await?;
        if outcomes.len() != items.len() {
            // A bug in the batch: nothing is committed rather than callers
            // left without an answer. Dropping the transaction rolls it back.
            return Err(StoreError::Conflict(format!(
                "writing {} {} gave {} outcomes",
                items.len(),
                B::NAME,
                outcomes.len()
            )));
        }
        tx.commit().await?;
        Ok(outcomes)
    }
}

/// Writes `items` as one batch, as the task would, and collects the answers.
#[cfg(test)]
pub(crate) async fn write_together<B: Batch>(
    writer: &Writer,
    batch: B,
    items: Vec<B::Item>,
) -> Vec<Result<B::Outcome>> {
    let server = Server {
        writer: writer.clone(),
        batch,
        transactions: Arc::default(),
    };
    let (replies, answers): (Vec<_>, Vec<_>) = items.iter().map(|_| oneshot::channel()).unzip();
    server.write_batch(items, replies).await;
    let mut outcomes = Vec::new();
    for answer in answers {
        outcomes.push(answer.await.expect("every item is answered"));
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::task::JoinSet;

    use super::*;
    use crate::Store;
    use crate::rows::{sql, values_placeholders};

    /// Writes numbers into a table of their own; answers each with its number.
    struct Numbers;

    impl Batch for Numbers {
        type Item = i64;
        type Outcome = i64;
        const MAX_BATCH: usize = 64;
        const NAME: &'static str = "numbers";

        async fn write(&self, tx: &mut WriteTx, items: &[i64]) -> Result<Vec<i64>> {
            let statement = format!(
                "INSERT INTO numbers (n) VALUES {}",
                values_placeholders(items.len(), 1)
            );
            let mut insert = sqlx::query(sql(statement));
            for n in items {
                insert = insert.bind(*n);
            }
            insert.execute(&mut **tx).await?;
            Ok(items.to_vec())
        }
    }

    async fn store_with_numbers() -> (Store, tempfile::TempDir) {
        let dir = tempfile::TempDir::new().unwrap();
        let store = Store::connect(&format!("sqlite://{}/orch.db", dir.path().display()))
            .await
            .unwrap();
        sqlx::query("CREATE TABLE numbers (n BIGINT PRIMARY KEY)")
            .execute(store.writer.pool())
            .await
            .unwrap();
        (store, dir)
    }

    async fn numbers(store: &Store) -> Vec<i64> {
        sqlx::query_as::<_, (i64,)>("SELECT n FROM numbers ORDER BY n")
            .fetch_all(store.writer.pool())
            .await
            .unwrap()
            .into_iter()
            .map(|(n,)| n)
            .collect()
    }

    /// One caller per number, each in its own task.
    fn submit_each(
        queue: &GroupCommit<Numbers>,
        numbers: std::ops::Range<i64>,
    ) -> JoinSet<(i64, Result<i64>)> {
        let mut callers = JoinSet::new();
        for n in numbers {
            let queue = queue.clone();
            callers.spawn(async move { (n, queue.submit(n).await) });
        }
        callers
    }

    #[tokio::test]
    async fn concurrent_requests_share_transactions_and_each_gets_its_answer() {
        let (store, _dir) = store_with_numbers().await;
        let (queue, _task) = GroupCommit::start(store.writer.clone(), Numbers);

        let mut callers = submit_each(&queue, 0..200);
        while let Some(answer) = callers.join_next().await {
            let (n, outcome) = answer.unwrap();
            assert_eq!(outcome.unwrap(), n);
        }

        assert_eq!(numbers(&store).await, (0..200).collect::<Vec<_>>());
        // One transaction per request would be 200; batches are at most 64.
        let transactions = queue.transactions();
        assert!(
            (4..200).contains(&transactions),
            "{transactions} transactions"
        );
    }

    #[tokio::test]
    async fn a_request_alone_is_written_at_once() {
        let (store, _dir) = store_with_numbers().await;
        let (queue, _task) = GroupCommit::start(store.writer.clone(), Numbers);

        for n in 0..3 {
            assert_eq!(queue.submit(n).await.unwrap(), n);
            assert_eq!(queue.transactions(), n as u64 + 1);
        }
        assert_eq!(numbers(&store).await, [0, 1, 2]);
    }

    #[tokio::test]
    async fn a_failing_item_fails_alone() {
        let (store, _dir) = store_with_numbers().await;
        write_together(&store.writer, Numbers, vec![5]).await;

        // The clash on 5 fails the batch's statement; the batch is then
        // written item by item, so only 5 reports the error.
        let outcomes = write_together(&store.writer, Numbers, vec![4, 5, 6]).await;

        assert_eq!(outcomes[0].as_ref().unwrap(), &4);
        let error = outcomes[1].as_ref().unwrap_err().to_string();
        assert!(error.contains("UNIQUE"), "{error}");
        assert_eq!(outcomes[2].as_ref().unwrap(), &6);
        assert_eq!(numbers(&store).await, [4, 5, 6]);
        // A constraint is the item's fault, not the database's.
        assert!(store.write_health().ok);
    }

    #[tokio::test]
    async fn the_task_answers_what_is_queued_then_stops_when_the_store_is_dropped() {
        let (store, dir) = store_with_numbers().await;
        let (queue, task) = GroupCommit::start(store.writer.clone(), Numbers);

        let mut callers = submit_each(&queue, 0..20);
        drop(queue);
        drop(store);
        while let Some(answer) = callers.join_next().await {
            answer.unwrap().1.unwrap();
        }

        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the task ends with its last handle")
            .expect("the task ends without panicking");
        let reopened = Store::connect(&format!("sqlite://{}/orch.db", dir.path().display()))
            .await
            .unwrap();
        assert_eq!(numbers(&reopened).await, (0..20).collect::<Vec<_>>());
    }
}
