# Drives a command in a pseudo-terminal as a person would: waits until EXPECT appears on the screen, types Ctrl-P and
# then Ctrl-Q as two separate keys (the detach keys), and waits for the command to exit. Prints everything the
# command drew, then "EXIT <status>" on the last line.  Usage: pty_drive.py EXPECT -- COMMAND [ARGS...]
import fcntl, os, pty, select, struct, sys, termios, time

expect = sys.argv[1].encode()
command = sys.argv[sys.argv.index("--") + 1:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(command[0], command)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
screen = b""


def read_until(done, seconds):
    global screen
    end = time.time() + seconds
    while time.time() < end and not done(screen):
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:
                return done(screen)
            if not data:
                return done(screen)
            screen += data
    return done(screen)


def finish(status):
    sys.stdout.write(screen.decode("utf-8", "replace"))
    sys.stdout.write("\nEXIT %d\n" % status)
    sys.exit(0)


if not read_until(lambda s: expect in s, 120):
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    finish(-1)
os.write(fd, b"\x10")
time.sleep(0.5)
os.write(fd, b"\x11")
read_until(lambda s: b"detached from terminal" in s, 30)
deadline = time.time() + 30
while time.time() < deadline:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        read_until(lambda s: False, 0.5)
        finish(os.waitstatus_to_exitcode(status))
    read_until(lambda s: False, 0.2)
os.kill(pid, 9)
os.waitpid(pid, 0)
finish(-2)
