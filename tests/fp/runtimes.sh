# Language runtimes that start shells the normal way: Python's subprocess with shell=True, Node's
# child_process.execSync, Java's ProcessBuilder with sh -c.
python3 -c 'import subprocess; subprocess.run("ls / | wc -l", shell=True, check=True, stdout=subprocess.DEVNULL)'
node -e 'require("child_process").execSync("uname -a | tr a-z A-Z", {stdio: "ignore"})'
if command -v java > /dev/null; then
  cat > Main.java <<'JAVA'
public class Main {
  public static void main(String[] a) throws Exception {
    Process p = new ProcessBuilder("sh", "-c", "echo hi | wc -c").redirectErrorStream(true).start();
    p.getInputStream().readAllBytes();
    System.exit(p.waitFor());
  }
}
JAVA
  java Main.java
fi
