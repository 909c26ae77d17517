//! The dependency graph between committed transactions, and the search for its cycles.
//!
//! Cycles are searched only inside the strongly connected components of the whole graph (a valid
//! history has none, so the common case costs one linear pass). Inside a component, each
//! anomaly kind is found by a breadth-first search restricted to certain edge kinds: for an edge
//! a -> b, the shortest path b ~> a closes a cycle through that edge.

use super::order::{committed_reads, maybe_committed, strip_own, Appends, Orders};
use super::{Anomaly, EdgeKind, History, Key, Step, TxnId, MAX_CYCLES_PER_KIND};
use std::collections::{HashMap, HashSet, VecDeque};

/// Searches (BFS runs) allowed per anomaly kind, bounding the work on very broken histories.
const MAX_SEARCHES_PER_KIND: usize = 5_000;

/// Adjacency lists: node -> (target, kind, key).
pub(super) struct Graph {
    adj: Vec<Vec<(TxnId, EdgeKind, Key)>>,
    seen: HashSet<(TxnId, TxnId, EdgeKind)>,
}

impl Graph {
    fn new(n: usize) -> Graph {
        Graph {
            adj: vec![Vec::new(); n],
            seen: HashSet::new(),
        }
    }

    fn add(&mut self, from: TxnId, to: TxnId, kind: EdgeKind, key: Key) {
        if from != to && self.seen.insert((from, to, kind)) {
            self.adj[from].push((to, kind, key));
        }
    }

    /// Number of distinct (from, to, kind) edges.
    pub(super) fn edge_count(&self) -> usize {
        self.seen.len()
    }

    fn edges(&self) -> impl Iterator<Item = Step> + '_ {
        self.adj.iter().enumerate().flat_map(|(from, es)| {
            es.iter().map(move |&(to, kind, key)| Step {
                from,
                kind,
                key,
                to,
            })
        })
    }
}

/// Builds ww, wr and rw edges from the version orders and the committed reads.
pub(super) fn build(history: &History, appends: &Appends, orders: &Orders) -> Graph {
    let mut g = Graph::new(history.txns.len());
    let writer = |key: Key, v: &u64| appends.get(&(key, *v)).map(|a| a.txn);
    let committed = |t: TxnId| maybe_committed(history.txns[t].outcome);
    // Version orders restricted to committed writers: (value, writer).
    let mut committed_orders: HashMap<Key, Vec<(u64, TxnId)>> = HashMap::new();
    for (&key, order) in orders {
        let o: Vec<(u64, TxnId)> = order
            .iter()
            .filter_map(|v| writer(key, v).filter(|&w| committed(w)).map(|w| (*v, w)))
            .collect();
        for pair in o.windows(2) {
            g.add(pair[0].1, pair[1].1, EdgeKind::Ww, key);
        }
        committed_orders.insert(key, o);
    }
    for (reader, key, values) in committed_reads(history) {
        let Some(order) = committed_orders.get(&key) else {
            continue;
        };
        let seen = strip_own(values, key, reader, appends);
        let next = match seen.last() {
            None => order.first(),
            Some(last) => {
                let Some(w) = writer(key, last).filter(|&w| committed(w)) else {
                    continue; // garbage or aborted read: reported already
                };
                g.add(w, reader, EdgeKind::Wr, key);
                match order.iter().position(|(v, _)| v == last) {
                    Some(p) => order.get(p + 1),
                    None => None,
                }
            }
        };
        if let Some(&(_, w)) = next {
            g.add(reader, w, EdgeKind::Rw, key);
        }
    }
    g
}

/// Strongly connected components (iterative Tarjan); returns the component id of every node.
fn components(g: &Graph) -> Vec<usize> {
    let n = g.adj.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut comp = vec![usize::MAX; n];
    let mut stack = Vec::new();
    let mut next_index = 0;
    let mut next_comp = 0;
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        // (node, next edge to look at)
        let mut work = vec![(root, 0usize)];
        index[root] = next_index;
        low[root] = next_index;
        next_index += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut ei)) = work.last_mut() {
            if let Some(&(w, _, _)) = g.adj[v].get(*ei) {
                *ei += 1;
                if index[w] == usize::MAX {
                    index[w] = next_index;
                    low[w] = next_index;
                    next_index += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    comp[w] = next_comp;
                    if w == v {
                        break;
                    }
                }
                next_comp += 1;
            }
        }
    }
    comp
}

/// Shortest path from `from` to `to` inside `from`'s component using only `allowed` edges.
fn path(
    g: &Graph,
    comp: &[usize],
    from: TxnId,
    to: TxnId,
    allowed: &[EdgeKind],
) -> Option<Vec<Step>> {
    let mut prev: HashMap<TxnId, Step> = HashMap::new();
    let mut queue = VecDeque::from([from]);
    let mut visited = HashSet::from([from]);
    while let Some(v) = queue.pop_front() {
        if v == to {
            let mut steps = Vec::new();
            let mut cur = to;
            while cur != from {
                let s = prev[&cur];
                steps.push(s);
                cur = s.from;
            }
            steps.reverse();
            return Some(steps);
        }
        for &(w, kind, key) in &g.adj[v] {
            if comp[w] == comp[from] && allowed.contains(&kind) && visited.insert(w) {
                prev.insert(
                    w,
                    Step {
                        from: v,
                        kind,
                        key,
                        to: w,
                    },
                );
                queue.push_back(w);
            }
        }
    }
    None
}

/// One cycle search: the kind of the closing edge, the edge kinds the rest of the cycle may
/// use, and the anomaly a cycle found this way is.
type Search = (EdgeKind, &'static [EdgeKind], fn(Vec<Step>) -> Anomaly);

/// Finds and reports cycles: G0, G1c, G-single and G2 (see the module docs of `elle`).
pub(super) fn find_cycles(g: &Graph, out: &mut Vec<Anomaly>) {
    let comp = components(g);
    let mut size: HashMap<usize, usize> = HashMap::new();
    for c in &comp {
        *size.entry(*c).or_default() += 1;
    }
    let in_cycle: Vec<Step> = g
        .edges()
        .filter(|s| comp[s.from] == comp[s.to] && size[&comp[s.from]] > 1)
        .collect();
    if in_cycle.is_empty() {
        return;
    }
    use EdgeKind::{Rw, Wr, Ww};
    let searches: [Search; 4] = [
        (Ww, &[Ww], Anomaly::G0),
        (Wr, &[Ww, Wr], Anomaly::G1c),
        (Rw, &[Ww, Wr], Anomaly::GSingle),
        (Rw, &[Ww, Wr, Rw], Anomaly::G2),
    ];
    let mut reported: HashSet<Vec<TxnId>> = HashSet::new();
    for (first, allowed, make) in searches {
        let mut found = 0;
        for s in in_cycle
            .iter()
            .filter(|s| s.kind == first)
            .take(MAX_SEARCHES_PER_KIND)
        {
            if found >= MAX_CYCLES_PER_KIND {
                break;
            }
            let Some(rest) = path(g, &comp, s.to, s.from, allowed) else {
                continue;
            };
            let mut cycle = vec![*s];
            cycle.extend(rest);
            if first == Rw
                && allowed.contains(&Rw)
                && cycle.iter().filter(|s| s.kind == Rw).count() < 2
            {
                continue; // a G-single, found (or capped) by the previous search
            }
            let mut nodes: Vec<TxnId> = cycle.iter().map(|s| s.from).collect();
            nodes.sort_unstable();
            if reported.insert(nodes) {
                out.push(make(cycle));
                found += 1;
            }
        }
    }
}
