# System interfaces used by the data plane, declared one-to-one with the C headers.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from libc.string cimport memcpy, memmove, memset, memcmp, memchr
from libc.stdlib cimport malloc, free, realloc
from libc.errno cimport errno

cdef extern from "<errno.h>" nogil:
    enum:
        EAGAIN
        EWOULDBLOCK
        EINTR
        EINPROGRESS
        ECONNREFUSED
        ECONNRESET
        EPIPE
        EMFILE
        ENFILE
        ENOBUFS
        ENOMEM
        ECONNABORTED
        ETIMEDOUT
        EHOSTUNREACH
        ENETUNREACH
        EADDRNOTAVAIL

cdef extern from "<time.h>" nogil:
    ctypedef long time_t
    cdef struct timespec:
        time_t tv_sec
        long tv_nsec
    enum:
        CLOCK_MONOTONIC
        CLOCK_REALTIME
    int clock_gettime(int clk, timespec *ts)

cdef extern from "<sys/uio.h>" nogil:
    cdef struct iovec:
        void *iov_base
        size_t iov_len

cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned int socklen_t
    ctypedef unsigned short sa_family_t
    cdef struct sockaddr:
        sa_family_t sa_family
    cdef struct sockaddr_storage:
        sa_family_t ss_family
    cdef struct msghdr:
        void *msg_name
        socklen_t msg_namelen
        iovec *msg_iov
        size_t msg_iovlen
        void *msg_control
        size_t msg_controllen
        int msg_flags
    cdef struct linger:
        int l_onoff
        int l_linger
    enum:
        AF_INET
        AF_INET6
        AF_UNIX
        SOCK_STREAM
        SOCK_NONBLOCK
        SOCK_CLOEXEC
        SOL_SOCKET
        SO_ERROR
        SO_LINGER
        SO_KEEPALIVE
        SHUT_RD
        SHUT_WR
        SHUT_RDWR
        MSG_NOSIGNAL
        MSG_DONTWAIT
        MSG_MORE
        MSG_PEEK
    int socket(int domain, int type, int protocol)
    int connect(int fd, const sockaddr *addr, socklen_t len)
    int accept4(int fd, sockaddr *addr, socklen_t *len, int flags)
    ssize_t recv(int fd, void *buf, size_t n, int flags)
    ssize_t send(int fd, const void *buf, size_t n, int flags)
    ssize_t sendmsg(int fd, const msghdr *msg, int flags)
    int shutdown(int fd, int how)
    int listen(int fd, int backlog)
    int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
    int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
    int getsockname(int fd, sockaddr *addr, socklen_t *len)

cdef extern from "<netinet/in.h>" nogil:
    enum:
        IPPROTO_TCP
    cdef struct in_addr:
        uint32_t s_addr
    cdef struct sockaddr_in:
        sa_family_t sin_family
        uint16_t sin_port
        in_addr sin_addr
    cdef struct in6_addr:
        uint8_t s6_addr[16]
    cdef struct sockaddr_in6:
        sa_family_t sin6_family
        uint16_t sin6_port
        uint32_t sin6_flowinfo
        in6_addr sin6_addr
        uint32_t sin6_scope_id
    uint16_t ntohs(uint16_t)
    uint16_t htons(uint16_t)
    uint32_t ntohl(uint32_t)

cdef extern from "<netinet/tcp.h>" nogil:
    enum:
        TCP_NODELAY
        TCP_QUICKACK

cdef extern from "<arpa/inet.h>" nogil:
    const char *inet_ntop(int af, const void *src, char *dst, socklen_t size)

cdef extern from "<unistd.h>" nogil:
    int close(int fd)
    ssize_t read(int fd, void *buf, size_t n)
    ssize_t write(int fd, const void *buf, size_t n)
    int pipe2(int fds[2], int flags)

cdef extern from "<fcntl.h>" nogil:
    enum:
        O_NONBLOCK
        O_CLOEXEC
        F_SETPIPE_SZ
        F_GETPIPE_SZ
        SPLICE_F_MOVE
        SPLICE_F_NONBLOCK
        SPLICE_F_MORE
    int fcntl(int fd, int cmd, ...)
    ssize_t splice(int fd_in, void *off_in, int fd_out, void *off_out, size_t len, unsigned int flags)

cdef extern from "<sys/epoll.h>" nogil:
    ctypedef union epoll_data_t:
        void *ptr
        int fd
        uint32_t u32
        uint64_t u64
    cdef struct epoll_event:
        uint32_t events
        epoll_data_t data
    enum:
        EPOLLIN
        EPOLLOUT
        EPOLLERR
        EPOLLHUP
        EPOLLRDHUP
        EPOLLET
        EPOLL_CTL_ADD
        EPOLL_CTL_DEL
        EPOLL_CTL_MOD
        EPOLL_CLOEXEC
    int epoll_create1(int flags)
    int epoll_ctl(int epfd, int op, int fd, epoll_event *ev)
    int epoll_wait(int epfd, epoll_event *events, int maxevents, int timeout)

cdef extern from "fl_shm.h" nogil:
    enum:
        FL_HIST_BUCKETS
        FL_SRV_ADMF_MAINT
        FL_SRV_ADMF_DRAIN
        FL_SRV_ST_STOPPED
        FL_SRV_ST_STARTING
        FL_SRV_ST_RUNNING
        FL_SRV_ST_STOPPING
        FL_PX_F_PAUSED
    const uint32_t fl_hist_bounds_ms[]
    ctypedef struct fl_srv_state_t:
        uint32_t admin
        uint32_t oper
        uint32_t uweight
        uint32_t eweight
        uint32_t maxconn
        uint32_t maxqueue
        uint32_t addr_gen
        uint32_t in_use
        uint8_t addr[28]
        uint32_t addr_len
        uint64_t last_change
        uint64_t down_time
        uint32_t check_status
        uint32_t check_code
        uint32_t check_duration_ms
        uint32_t chk_fail
        uint32_t chk_down
        uint32_t cur_conn
    ctypedef struct fl_counters_t:
        uint64_t cur_sess
        uint64_t max_sess
        uint64_t cum_sess
        uint64_t cum_conn
        uint64_t bytes_in
        uint64_t bytes_out
        uint64_t denied_req
        uint64_t denied_resp
        uint64_t denied_conn
        uint64_t failed_req
        uint64_t failed_conns
        uint64_t failed_resp
        uint64_t retries
        uint64_t redispatches
        uint64_t failed_rewrites
        uint64_t cum_req
        uint64_t http_rsp[6]
        uint64_t cli_aborts
        uint64_t srv_aborts
        uint64_t cur_queue
        uint64_t max_queue
        uint64_t cum_lbconn
        uint64_t last_sess
        uint64_t connect_new
        uint64_t connect_reuse
        uint64_t intercepted
        uint64_t q_time_sum
        uint64_t c_time_sum
        uint64_t r_time_sum
        uint64_t t_time_sum
        uint64_t time_samples
        uint64_t rsp_time_hist[16]
        uint64_t conn_time_hist[16]
        uint64_t q_time_max
        uint64_t c_time_max
        uint64_t r_time_max
        uint64_t t_time_max
    ctypedef struct fl_px_state_t:
        uint32_t maxconn
        uint32_t flags
    ctypedef struct fl_shm_header_t:
        uint64_t magic
        uint32_t nb_workers
        uint32_t nb_servers
        uint32_t nb_counters
        uint32_t nb_proxies
        uint64_t generation
        uint64_t global_maxconn
        uint64_t start_time
        uint32_t nb_backends
    enum:
        FL_SRVI_NAME_LEN
        FL_SRVI_ADDR_LEN
        FL_SRVI_TEXT_LEN
    ctypedef struct fl_srv_info_t:
        uint32_t seq
        uint32_t flags
        uint32_t backend
        uint32_t sid
        uint32_t order
        uint32_t counter_slot
        int32_t chk_health
        int32_t chk_rise
        int32_t chk_fall
        int32_t chk_status
        int32_t chk_code
        int32_t chk_duration
        int32_t agt_health
        int32_t agt_rise
        int32_t agt_fall
        int32_t agt_status
        int32_t agt_code
        int32_t agt_duration
        uint32_t hanafail
        uint32_t slowstart_ms
        uint64_t last_change_ms
        char name[64]
        char addr[128]
        char cookie[64]
        char tracked[128]
        char last_chk[128]
        char last_agt[128]
    ctypedef struct fl_be_info_t:
        uint32_t seq
        uint32_t chkdown
        uint64_t last_change_ms
        uint64_t down_since_ms
        uint64_t down_time_ms
    ctypedef struct fl_worker_state_t:
        uint64_t cur_conn
        uint64_t spliced_out
        uint64_t idle_pct
    fl_worker_state_t *fl_shm_workers(void *base)
    uint64_t fl_shm_total_conn(void *base)
    uint64_t fl_shm_total_spliced_out(void *base)
    uint32_t fl_shm_idle_pct(void *base)
    uint64_t fl_shm_next_uniq_id(void *base)
    fl_srv_state_t *fl_shm_servers(void *base)
    int fl_srv_reserve(fl_srv_state_t *s)
    void fl_srv_unreserve(fl_srv_state_t *s, uint32_t n)
    uint32_t fl_srv_conns(fl_srv_state_t *s)
    fl_px_state_t *fl_shm_proxies(void *base)
    fl_counters_t *fl_shm_counters(void *base, uint32_t worker)
    fl_srv_info_t *fl_shm_srv_info(void *base)
    fl_be_info_t *fl_shm_be_info(void *base)
    uint64_t fl_shm_size(uint32_t nb_workers, uint32_t nb_servers, uint32_t nb_proxies, uint32_t nb_counters,
                         uint32_t nb_backends)
    void fl_seq_write_begin(uint32_t *seq)
    void fl_seq_write_end(uint32_t *seq)
    int fl_seq_read(const void *src, void *dst, unsigned long size)

cdef extern from "<strings.h>" nogil:
    int strncasecmp(const char *a, const char *b, size_t n)
