# Core of a worker's data plane: clock, buffer pool, timer wheel, endpoints and the epoll
# dispatcher nested into the worker's uvloop.
#
# Why an epoll set of our own: a uvloop Protocol or add_reader() callback costs a Python-level
# call, a Handle and (for Protocols) a bytes object per event. Here every socket of the data plane
# is registered once, edge-triggered, for both directions, in one epoll set whose fd is itself
# watched by uvloop (add_reader). One Python-level call per loop iteration then dispatches any
# number of socket events to cdef methods, with no epoll_ctl per request.

from cpython.ref cimport PyObject, Py_INCREF, Py_DECREF

cdef inline uint64_t mono_ms() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <uint64_t>ts.tv_sec * 1000 + <uint64_t>(ts.tv_nsec // 1000000)

cdef inline uint64_t mono_us() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <uint64_t>ts.tv_sec * 1000000 + <uint64_t>(ts.tv_nsec // 1000)

cdef inline uint64_t wall_us() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_REALTIME, &ts)
    return <uint64_t>ts.tv_sec * 1000000 + <uint64_t>(ts.tv_nsec // 1000)


# ---------------------------------------------------------------------------------------------
# Buffers. A connection holds a buffer only while it has data in flight: idle keep-alive
# connections hold none (50k idle clients must not cost 50k buffers). Released buffers go back
# to a free list, so taking one is a pointer pop.

cdef struct fl_buf:
    char *data
    uint32_t head      # offset of the first byte not yet consumed
    uint32_t len       # bytes stored from head

cdef class BufPool:
    cdef uint32_t size
    cdef char **free_list
    cdef int nfree
    cdef int cap
    cdef uint64_t allocated

    def __cinit__(self, uint32_t size, int cap=4096):
        self.size = size
        self.cap = cap
        self.nfree = 0
        self.free_list = <char **>malloc(sizeof(char *) * cap)
        if self.free_list == NULL:
            raise MemoryError()

    def __dealloc__(self):
        cdef int i
        for i in range(self.nfree):
            free(self.free_list[i])
        free(self.free_list)

    cdef inline bint take(self, fl_buf *b) noexcept:
        """Give `b` storage (if it has none). False when memory is exhausted."""
        if b.data != NULL:
            return True
        if self.nfree:
            self.nfree -= 1
            b.data = self.free_list[self.nfree]
        else:
            b.data = <char *>malloc(self.size)
            if b.data == NULL:
                return False
            self.allocated += 1
        b.head = 0
        b.len = 0
        return True

    cdef inline void give(self, fl_buf *b) noexcept:
        if b.data == NULL:
            return
        if self.nfree < self.cap:
            self.free_list[self.nfree] = b.data
            self.nfree += 1
        else:
            free(b.data)
            self.allocated -= 1
        b.data = NULL
        b.head = 0
        b.len = 0

    cdef inline void release_if_empty(self, fl_buf *b) noexcept:
        if b.data != NULL and b.len == 0:
            self.give(b)

    cdef inline void compact(self, fl_buf *b) noexcept:
        """Move stored bytes to the start so that the whole tail is free."""
        if b.head:
            if b.len:
                memmove(b.data, b.data + b.head, b.len)
            b.head = 0

    cdef inline uint32_t room(self, fl_buf *b) noexcept:
        return self.size - b.head - b.len


# ---------------------------------------------------------------------------------------------
# Timer wheel. A Task has one deadline (`expire`, monotonic ms, 0 = none). It is linked into the
# slot of that deadline; moving a deadline later costs nothing (the slot is re-examined when it
# comes due and the task re-filed), moving it earlier files it again (the old entry goes stale).

DEF WHEEL_BITS = 10
DEF WHEEL_SIZE = 1 << WHEEL_BITS
DEF WHEEL_MASK = WHEEL_SIZE - 1
DEF TICK_MS = 10

cdef class Task:
    cdef uint64_t expire       # deadline, monotonic ms; 0 = no deadline
    cdef uint64_t wheel_tick   # tick of the slot this task is filed in; 0 = not filed

    cdef void on_timeout(self, uint64_t now) noexcept:
        pass


cdef class Timers:
    cdef list slots
    cdef uint64_t last_tick     # every tick <= last_tick has been processed
    cdef Py_ssize_t count       # filed entries (stale ones included)

    def __cinit__(self, uint64_t now):
        self.slots = [[] for _ in range(WHEEL_SIZE)]
        self.last_tick = now // TICK_MS
        self.count = 0

    cdef inline void schedule(self, Task t) noexcept:
        """File `t` for its deadline `t.expire` unless it is filed for an earlier or equal tick."""
        cdef uint64_t tick
        if t.expire == 0:
            return
        tick = (t.expire + TICK_MS - 1) // TICK_MS
        if tick <= self.last_tick:
            tick = self.last_tick + 1
        if t.wheel_tick != 0 and t.wheel_tick <= tick:
            return
        t.wheel_tick = tick
        (<list>self.slots[tick & WHEEL_MASK]).append(t)
        self.count += 1

    cdef void run(self, uint64_t now) noexcept:
        cdef uint64_t tick, target = now // TICK_MS
        cdef list slot, keep
        cdef Task t
        cdef uint64_t wt
        if target <= self.last_tick:
            return
        if self.count == 0:
            self.last_tick = target
            return
        # Never walk more than one revolution: older ticks share slots with newer ones anyway.
        tick = self.last_tick + 1
        if target - tick >= WHEEL_SIZE:
            tick = target - WHEEL_SIZE + 1
        while tick <= target:
            self.last_tick = tick  # tasks filed from on_timeout() land on a later tick
            slot = <list>self.slots[tick & WHEEL_MASK]
            if slot:
                keep = []
                self.slots[tick & WHEEL_MASK] = keep
                self.count -= len(slot)
                for t in slot:
                    wt = t.wheel_tick
                    if wt == 0 or (wt & WHEEL_MASK) != (tick & WHEEL_MASK):
                        continue  # stale entry: the task was filed again elsewhere
                    if wt > tick:
                        keep.append(t)  # same slot, a later revolution
                        self.count += 1
                        continue
                    t.wheel_tick = 0
                    if t.expire == 0:
                        continue
                    if t.expire <= now:
                        t.on_timeout(now)
                    else:
                        self.schedule(t)
            tick += 1
        self.last_tick = target


# ---------------------------------------------------------------------------------------------
# Endpoints: one per socket. Flags remember the edges seen (edge-triggered epoll): CAN_READ stays
# set until a read comes back short or with EAGAIN, CAN_WRITE until a write comes back short.

DEF EP_CAN_READ = 0x0001
DEF EP_CAN_WRITE = 0x0002
DEF EP_EOF = 0x0004          # peer finished sending (recv returned 0)
DEF EP_SHUT_WR = 0x0008      # we shut down our sending side
DEF EP_ERROR = 0x0010        # socket error seen; close
DEF EP_CONNECTING = 0x0020   # outgoing connect() in progress
DEF EP_REGISTERED = 0x0040   # in the epoll set, holding a reference
DEF EP_CLOSED = 0x0080
DEF EP_HUP = 0x0100          # EPOLLHUP/EPOLLRDHUP seen
DEF EP_OUT_ARMED = 0x0200    # EPOLLOUT is in the interest set (only while output is blocked)

# Sockets are watched for input only; EPOLLOUT is added while a send is blocked and removed once
# the output is flushed (Worker.after_send). Watching EPOLLOUT all the time would wake the set on
# every ACK that frees send space: measurable kernel time per request on small exchanges.
cdef uint32_t EV_IN = EPOLLIN | EPOLLRDHUP | EPOLLET
cdef uint32_t EV_INOUT = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET


cdef class Handler(Task):
    cdef void on_io(self, Endpoint ep) noexcept:
        pass


cdef class Endpoint:
    cdef int fd
    cdef uint32_t flags
    cdef Handler owner
    cdef int role            # owner-defined (client side / server side)
    cdef int last_errno

    def __cinit__(self):
        self.fd = -1

    cdef inline void on_events(self, uint32_t ev) noexcept:
        if ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR):
            self.flags |= EP_CAN_READ
        if ev & (EPOLLOUT | EPOLLHUP | EPOLLERR):
            self.flags |= EP_CAN_WRITE
        if ev & (EPOLLHUP | EPOLLRDHUP):
            self.flags |= EP_HUP
        if self.owner is not None:
            self.owner.on_io(self)

    cdef inline ssize_t recv_into(self, char *p, size_t n) noexcept:
        """recv() with edge bookkeeping: >0 bytes, 0 on EOF, -1 on EAGAIN, -2 on error."""
        cdef ssize_t r
        while True:
            r = recv(self.fd, p, n, 0)
            if r > 0:
                # a short read means the socket is drained, unless the peer's FIN was signalled
                # (EPOLLRDHUP): no further edge will come, the next recv() must see the EOF
                if <size_t>r < n and not (self.flags & EP_HUP):
                    self.flags &= ~EP_CAN_READ
                return r
            if r == 0:
                self.flags |= EP_EOF
                self.flags &= ~EP_CAN_READ
                return 0
            if errno == EINTR:
                continue
            if errno == EAGAIN:
                self.flags &= ~EP_CAN_READ
                return -1
            self.last_errno = errno
            self.flags |= EP_ERROR
            self.flags &= ~EP_CAN_READ
            return -2

    cdef inline ssize_t send_from(self, const char *p, size_t n) noexcept:
        """send() with edge bookkeeping: bytes sent (maybe 0 on EAGAIN), -2 on error."""
        cdef ssize_t r
        while True:
            r = send(self.fd, p, n, MSG_NOSIGNAL)
            if r >= 0:
                if <size_t>r < n:
                    self.flags &= ~EP_CAN_WRITE
                return r
            if errno == EINTR:
                continue
            if errno == EAGAIN:
                self.flags &= ~EP_CAN_WRITE
                return 0
            self.last_errno = errno
            self.flags |= EP_ERROR
            return -2

    cdef inline ssize_t sendv(self, iovec *iov, int cnt, size_t total) noexcept:
        cdef msghdr m
        cdef ssize_t r
        memset(&m, 0, sizeof(m))
        m.msg_iov = iov
        m.msg_iovlen = cnt
        while True:
            r = sendmsg(self.fd, &m, MSG_NOSIGNAL)
            if r >= 0:
                if <size_t>r < total:
                    self.flags &= ~EP_CAN_WRITE
                return r
            if errno == EINTR:
                continue
            if errno == EAGAIN:
                self.flags &= ~EP_CAN_WRITE
                return 0
            self.last_errno = errno
            self.flags |= EP_ERROR
            return -2

    cdef inline void shut_wr(self) noexcept:
        if not (self.flags & (EP_SHUT_WR | EP_CLOSED)) and self.fd >= 0:
            shutdown(self.fd, SHUT_WR)
            self.flags |= EP_SHUT_WR


cdef inline int set_nodelay(int fd) noexcept nogil:
    cdef int one = 1
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))


cdef void drain_input(int fd) noexcept nogil:
    """Read and drop what the peer sent (bounded), so that closing the socket sends a FIN rather
    than the reset the kernel sends when unread data is discarded."""
    cdef char tmp[16384]
    cdef int i
    for i in range(64):
        if recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT) <= 0:
            return


cdef inline void set_linger0(int fd) noexcept nogil:
    """Make the next close() send a reset (for aborts that must be visible as such)."""
    cdef linger lg
    lg.l_onoff = 1
    lg.l_linger = 0
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg))
