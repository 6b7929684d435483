# git: a local repository, cloned, changed, committed, logged.
git init --quiet origin
(cd origin && echo one > f && git add f && git -c user.name=t -c user.email=t@x commit --quiet -m one)
git clone --quiet origin copy
(cd copy && echo two >> f && git -c user.name=t -c user.email=t@x commit --quiet -am two && git log --oneline > /dev/null)
