# fish completion for sio-inspect
complete -c sio-inspect -s h -l help -d 'print help'
complete -c sio-inspect -s V -l version -d 'print version'
complete -c sio-inspect -f -n '__fish_use_subcommand' -a 'decode handshake watch proxy replay doctor'
