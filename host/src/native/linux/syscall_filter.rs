//! A seccomp program from rules per system call, one program for every
//! answer (refusals and the supervisor's notifications alike), where a
//! call's number is found by a binary search rather than compared with
//! each call in turn.
//!
//! Why the shape matters: when a filter is installed the kernel runs it
//! on every system call number (twice on x86_64, once per ABI) to learn
//! which calls it always allows, then translates and compiles it. That
//! work grows with the path a number takes through the program and with
//! the program's length, and it is paid by every native run. The layout
//! seccompiler makes (one comparison per call, one answer per program, so
//! two filters here) took the command's process about 0.4 ms to install
//! (docs/BENCHMARKS.md).

use std::collections::BTreeMap;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// What a call gets.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Action {
    Allow,
    Errno(i32),
    /// Sent to the supervisor, which answers for the kernel.
    Notify,
}

impl Action {
    fn value(self) -> u32 {
        match self {
            Action::Allow => libc::SECCOMP_RET_ALLOW,
            Action::Errno(errno) => libc::SECCOMP_RET_ERRNO | (errno as u32 & 0xffff),
            Action::Notify => libc::SECCOMP_RET_USER_NOTIF,
        }
    }
}

/// A test of an argument's low 32 bits: the kernel reads ioctl requests,
/// flags, modes and socket families as 32-bit values, so garbage in the
/// high half must not change the answer.
#[derive(Clone, Debug)]
pub struct Check {
    arg: u8,
    mask: u32,
    test: Test,
}

#[derive(Clone, Debug)]
enum Test {
    /// Equal, after the mask, to one of these.
    OneOf(Vec<u32>),
    /// Equal, after the mask, to none of these.
    NoneOf(Vec<u32>),
    /// Any of these bits set.
    AnyBit(u32),
}

impl Check {
    pub fn one_of(arg: u8, values: &[u32]) -> Check {
        Check::new(arg, Test::OneOf(values.to_vec()))
    }

    pub fn none_of(arg: u8, values: &[u32]) -> Check {
        Check::new(arg, Test::NoneOf(values.to_vec()))
    }

    pub fn any_bit(arg: u8, bits: u32) -> Check {
        Check::new(arg, Test::AnyBit(bits))
    }

    /// The same test on the argument's bits in `mask` only.
    pub fn masked(self, mask: u32) -> Check {
        Check { mask, ..self }
    }

    fn new(arg: u8, test: Test) -> Check {
        Check {
            arg,
            mask: u32::MAX,
            test,
        }
    }

    /// Whether the check holds for the argument's low half `value`.
    #[cfg(test)]
    fn holds(&self, value: u32) -> bool {
        let value = value & self.mask;
        match &self.test {
            Test::OneOf(values) => values.contains(&value),
            Test::NoneOf(values) => !values.contains(&value),
            Test::AnyBit(bits) => value & bits != 0,
        }
    }
}

struct Rule {
    checks: Vec<Check>,
    action: Action,
}

/// The rules, and what calls numbered past those the rules were written
/// for get (a refusal list cannot judge what it has never seen).
pub struct Filter {
    calls: BTreeMap<u32, Vec<Rule>>,
    newest_known: u32,
    past_newest: Action,
}

impl Filter {
    pub fn new(newest_known: u32, past_newest: Action) -> Filter {
        Filter {
            calls: BTreeMap::new(),
            newest_known,
            past_newest,
        }
    }

    /// Call `nr` gets `action` whatever its arguments, unless a rule
    /// added before decides it. Calls no rule decides are allowed.
    pub fn always(&mut self, nr: i64, action: Action) {
        self.when(nr, Vec::new(), action);
    }

    /// Call `nr` gets `action` where every check holds, unless a rule
    /// added before decides it.
    pub fn when(&mut self, nr: i64, checks: Vec<Check>, action: Action) {
        let nr = u32::try_from(nr).expect("system call numbers are small");
        self.calls
            .entry(nr)
            .or_default()
            .push(Rule { checks, action });
    }

    /// The program: the architecture checked (any other is killed), the
    /// number past the newest known answered, then the search.
    pub fn program(&self) -> Result<Vec<libc::sock_filter>, String> {
        if let Some(nr) = self.calls.keys().find(|nr| **nr > self.newest_known) {
            return Err(format!("system call {nr} is past the newest known"));
        }
        let mut blocks = Vec::new();
        let mut items: Vec<Item> = Vec::new();
        for (nr, rules) in &self.calls {
            let leaf = match rules.first() {
                Some(rule) if rule.checks.is_empty() => Leaf::Return(rule.action.value()),
                _ => {
                    blocks.push(rules_code(rules)?);
                    Leaf::Block(blocks.len() - 1)
                }
            };
            match items.last_mut() {
                // Blocks are each their own (their indexes differ).
                Some(last) if last.end + 1 == *nr && last.leaf == leaf => {
                    last.end = *nr;
                }
                _ => items.push(Item {
                    start: *nr,
                    end: *nr,
                    leaf,
                }),
            }
        }
        let mut program = vec![
            op(LD_ABS, 0, 0, ARCH_OFFSET),
            op(JEQ, 1, 0, AUDIT_ARCH),
            op(RET, 0, 0, KILL_PROCESS),
            op(LD_ABS, 0, 0, NR_OFFSET),
            op(JGT, 0, 1, self.newest_known),
            op(RET, 0, 0, self.past_newest.value()),
        ];
        let search = search(&items, 0, self.newest_known)?;
        let base = program.len();
        program.extend(search.ops);
        let mut starts = Vec::new();
        for block in blocks {
            starts.push(program.len());
            program.extend(block);
        }
        for (at, block) in search.to_blocks {
            let from = base + at;
            program[from].k = (starts[block] - from - 1) as u32;
        }
        if program.len() > usize::from(u16::MAX) {
            return Err("the seccomp program is too long".into());
        }
        Ok(program)
    }

    /// What the program answers call `nr` with these arguments' low
    /// halves, read from the rules (the program's reference).
    #[cfg(test)]
    fn answer(&self, nr: u32, args: [u32; 6]) -> Action {
        if nr > self.newest_known {
            return self.past_newest;
        }
        let Some(rules) = self.calls.get(&nr) else {
            return Action::Allow;
        };
        rules
            .iter()
            .find(|rule| rule.checks.iter().all(|c| c.holds(args[c.arg as usize])))
            .map_or(Action::Allow, |rule| rule.action)
    }
}

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;
#[cfg(target_arch = "riscv64")]
const AUDIT_ARCH: u32 = 0xc000_00f3;

const LD_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const AND: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const JA: u16 = 0x05; // BPF_JMP | BPF_JA
const JEQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGT: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K (unsigned)
const JGE: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K (unsigned)
const JSET: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const RET: u16 = 0x06; // BPF_RET | BPF_K
const KILL_PROCESS: u32 = 0x8000_0000; // SECCOMP_RET_KILL_PROCESS

// struct seccomp_data: the number at 0, the architecture at 4, the
// arguments from 16, 8 bytes each.
const NR_OFFSET: u32 = 0;
const ARCH_OFFSET: u32 = 4;

fn low_half(arg: u8) -> u32 {
    let at = 16 + 8 * u32::from(arg);
    if cfg!(target_endian = "little") {
        at
    } else {
        at + 4
    }
}

fn op(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// A conditional jump's offset, which BPF holds in a byte.
fn offset(distance: usize) -> Result<u8, String> {
    u8::try_from(distance).map_err(|_| "a seccomp jump is too long".to_string())
}

/// Where a run of call numbers goes: a return, or the code of its rules.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Leaf {
    Return(u32),
    Block(usize),
}

/// Numbers `start..=end`, which go to `leaf`.
struct Item {
    start: u32,
    end: u32,
    leaf: Leaf,
}

/// Code that jumps to blocks not placed yet.
#[derive(Default)]
struct Code {
    ops: Vec<libc::sock_filter>,
    /// (index of a `ja`, the block it jumps to)
    to_blocks: Vec<(usize, usize)>,
}

impl Code {
    fn push(&mut self, op: libc::sock_filter) {
        self.ops.push(op);
    }

    fn leaf(&mut self, leaf: Leaf) {
        match leaf {
            Leaf::Return(value) => self.push(op(RET, 0, 0, value)),
            Leaf::Block(block) => {
                self.to_blocks.push((self.ops.len(), block));
                self.push(op(JA, 0, 0, 0));
            }
        }
    }

    fn append(&mut self, other: Code) {
        let base = self.ops.len();
        self.to_blocks
            .extend(other.to_blocks.into_iter().map(|(at, b)| (base + at, b)));
        self.ops.extend(other.ops);
    }
}

/// Items at most this many are compared in turn rather than split.
const LINEAR: usize = 4;

/// Code that takes a number known to lie in `low..=high` to the leaf of
/// the item holding it (`items` are sorted and apart), or allows it.
fn search(items: &[Item], low: u32, high: u32) -> Result<Code, String> {
    let mut code = Code::default();
    if items.len() <= LINEAR {
        for item in items {
            match (item.start == low, item.end == high) {
                (true, true) => {
                    code.leaf(item.leaf);
                    return Ok(code);
                }
                _ if item.start == item.end => code.push(op(JEQ, 0, 1, item.start)),
                (true, false) => code.push(op(JGT, 1, 0, item.end)),
                (false, true) => code.push(op(JGE, 0, 1, item.start)),
                (false, false) => {
                    code.push(op(JGE, 0, 2, item.start));
                    code.push(op(JGT, 1, 0, item.end));
                }
            }
            code.leaf(item.leaf);
        }
        code.push(op(RET, 0, 0, Action::Allow.value()));
        return Ok(code);
    }
    let middle = items.len() / 2;
    let split = items[middle].start;
    let left = search(&items[..middle], low, split - 1)?;
    let right = search(&items[middle..], split, high)?;
    code.push(op(JGE, offset(left.ops.len())?, 0, split));
    code.append(left);
    code.append(right);
    Ok(code)
}

/// A call's rules in order, then allowed. A check that fails jumps past
/// its rule's return to the next rule.
fn rules_code(rules: &[Rule]) -> Result<Vec<libc::sock_filter>, String> {
    let mut code = Vec::new();
    for rule in rules {
        let mut ops = Vec::new();
        // The conditional jumps to the next rule: (index, on true).
        let mut to_next = Vec::new();
        for check in &rule.checks {
            ops.push(op(LD_ABS, 0, 0, low_half(check.arg)));
            if check.mask != u32::MAX {
                ops.push(op(AND, 0, 0, check.mask));
            }
            match &check.test {
                Test::OneOf(values) => {
                    let count = values.len();
                    for (i, value) in values.iter().enumerate() {
                        if i + 1 < count {
                            ops.push(op(JEQ, offset(count - i - 1)?, 0, *value));
                        } else {
                            to_next.push((ops.len(), false));
                            ops.push(op(JEQ, 0, 0, *value));
                        }
                    }
                }
                Test::NoneOf(values) => {
                    for value in values {
                        to_next.push((ops.len(), true));
                        ops.push(op(JEQ, 0, 0, *value));
                    }
                }
                Test::AnyBit(bits) => {
                    to_next.push((ops.len(), false));
                    ops.push(op(JSET, 0, 0, *bits));
                }
            }
        }
        ops.push(op(RET, 0, 0, rule.action.value()));
        let next = ops.len();
        for (at, on_true) in to_next {
            let distance = offset(next - at - 1)?;
            if on_true {
                ops[at].jt = distance;
            } else {
                ops[at].jf = distance;
            }
        }
        code.extend(ops);
        if rule.checks.is_empty() {
            return Ok(code);
        }
    }
    code.push(op(RET, 0, 0, Action::Allow.value()));
    Ok(code)
}

/// Installs `program` in this process, which must have set no_new_privs
/// (or hold CAP_SYS_ADMIN), and returns the descriptor the supervisor
/// receives the notified calls on.
pub fn install(program: &[libc::sock_filter]) -> std::io::Result<OwnedFd> {
    let prog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: a valid program that outlives the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &prog,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just made this descriptor for this process.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Runs classic BPF as the kernel does; returns the answer and the
    /// instructions run.
    fn run(program: &[libc::sock_filter], nr: u32, arch: u32, args: [u32; 6]) -> (u32, usize) {
        let load = |k: u32| match k {
            NR_OFFSET => nr,
            ARCH_OFFSET => arch,
            k => {
                let arg = ((k - 16) / 8) as usize;
                assert_eq!(low_half(arg as u8), k, "loads only low halves");
                args[arg]
            }
        };
        let (mut pc, mut acc, mut steps) = (0usize, 0u32, 0);
        loop {
            let ins = program[pc];
            steps += 1;
            let jump = |taken: bool| pc + 1 + usize::from(if taken { ins.jt } else { ins.jf });
            pc = match ins.code {
                LD_ABS => {
                    acc = load(ins.k);
                    pc + 1
                }
                AND => {
                    acc &= ins.k;
                    pc + 1
                }
                JA => pc + 1 + ins.k as usize,
                JEQ => jump(acc == ins.k),
                JGT => jump(acc > ins.k),
                JGE => jump(acc >= ins.k),
                JSET => jump(acc & ins.k != 0),
                RET => return (ins.k, steps),
                code => panic!("unexpected instruction {code:#x}"),
            };
        }
    }

    /// A filter of every kind of rule, around `numbers`.
    fn filter_of(numbers: &[u32]) -> Filter {
        let mut filter = Filter::new(466, Action::Errno(libc::ENOSYS));
        for nr in numbers {
            // Neighbours often share a kind: runs of numbers with one
            // answer become ranges.
            let kind = nr / 3 % 5;
            let nr = i64::from(*nr);
            match kind {
                0 => filter.always(nr, Action::Errno(libc::EPERM)),
                1 => filter.always(nr, Action::Notify),
                2 => {
                    filter.when(nr, vec![Check::any_bit(0, 0o4000)], Action::Errno(1));
                    filter.when(nr, vec![Check::any_bit(1, 0o100)], Action::Notify);
                }
                3 => {
                    let families = Check::none_of(0, &[1, 2]);
                    let kind = Check::one_of(1, &[1, 5]).masked(0xf);
                    filter.when(nr, vec![families, kind], Action::Errno(13));
                    filter.always(nr, Action::Notify);
                }
                _ => filter.when(nr, vec![Check::one_of(2, &[7, 9, 11])], Action::Allow),
            }
        }
        filter
    }

    proptest! {
        /// The program answers every call as its rules say, and finds any
        /// number in a few steps: the kernel runs it on every number when
        /// it is installed.
        #[test]
        fn the_program_answers_as_the_rules_and_searches(
            numbers in prop::collection::btree_set(0u32..=466, 0..120),
            probes in prop::collection::vec((0u32..600, prop::array::uniform6(0u32..20)), 64),
        ) {
            let numbers: Vec<u32> = numbers.into_iter().collect();
            let filter = filter_of(&numbers);
            let program = filter.program().unwrap();
            for (nr, args) in probes.iter().copied().chain(numbers.iter().map(|nr| (*nr, [0; 6]))) {
                // The checks' bits and values, at random.
                let args = args.map(|a| [0, 1, 2, 5, 7, 9, 11, 0o100, 0o4000, 0x15][a as usize % 10]);
                let (answer, _) = run(&program, nr, AUDIT_ARCH, args);
                prop_assert_eq!(answer, filter.answer(nr, args).value(), "call {}", nr);
            }
            for nr in 0..=466 {
                let (_, steps) = run(&program, nr, AUDIT_ARCH, [0; 6]);
                prop_assert!(steps <= 24, "call {} took {} steps", nr, steps);
            }
            prop_assert_eq!(run(&program, 0, AUDIT_ARCH ^ 1, [0; 6]).0, KILL_PROCESS);
        }
    }

    #[test]
    fn numbers_past_the_newest_known_are_refused() {
        let mut filter = filter_of(&[0, 1, 2, 300]);
        assert!(filter.program().is_ok());
        filter.always(467, Action::Allow);
        assert!(filter.program().is_err());
        let program = filter_of(&[]).program().unwrap();
        for nr in [467, 1 << 30, u32::MAX] {
            let errno = Action::Errno(libc::ENOSYS).value();
            assert_eq!(run(&program, nr, AUDIT_ARCH, [0; 6]).0, errno);
        }
    }
}
